package server

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"

	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/rotation"
)

// SelfRotation moves the ADS port itself among a pool of addresses.
type SelfRotation struct {
	Pool   []netip.AddrPort // at least 2 (ParseAddrPool); empty: the port stays on Config.Addr
	Recent int              // past addresses never drawn again; 0: (pool-1)/2
	Every  time.Duration    // a move every Every ± Jitter (crypto/rand); 0: only when told
	Jitter time.Duration
}

// Errors of MoveSelf.
var (
	ErrNoAddrPool = errors.New("the control plane has no address pool to move in")
	ErrSelfMoving = errors.New("the control plane is already moving")
)

// selfMove is the state of the ADS port's own rotation.
type selfMove struct {
	pool      *selfPool // nil: the port never moves
	opts      []grpc.ServerOption
	ctx       context.Context // Start's: the listeners live as long
	run       sync.Mutex      // one move at a time
	mu        sync.Mutex
	epoch     uint64 // announcements made
	announced string
	onOld     map[string]bool // nodes on the old address while a move is under way; nil otherwise
	last      *SelfMoveRecord
	nextDue   time.Time
}

// SelfMoveRecord is how a move of the control plane went.
type SelfMoveRecord struct {
	At       time.Time `json:"at"`
	Trigger  string    `json:"trigger"`
	From     string    `json:"from"`
	To       string    `json:"to"`
	TookMS   float64   `json:"took_ms"` // from the announcement to the last node on the new address
	Nodes    int       `json:"nodes"`   // on the old address when the move was announced
	Moved    int       `json:"moved"`
	Laggards []string  `json:"laggards,omitempty"` // never reconnected by the hard deadline (first 20)
	Lagging  int       `json:"laggard_count"`
}

// listenFirst opens the ADS port: on Config.Addr, or on an address drawn
// from the pool.
func (r *Running) listenFirst(ctx context.Context, opts []grpc.ServerOption) (*adsListener, error) {
	s := &r.self
	s.opts, s.ctx = opts, ctx
	sr := r.cfg.Self
	if len(sr.Pool) == 0 {
		return r.serveADS(ctx, r.cfg.Addr, opts)
	}
	recent := sr.Recent
	if recent == 0 {
		recent = -1
	}
	pool, err := newSelfPool(sr.Pool, recent)
	if err != nil {
		return nil, err
	}
	s.pool = pool
	l, err := r.openNext()
	if err != nil {
		return nil, err
	}
	s.epoch, s.announced = 1, l.addr.String()
	return l, nil
}

// openNext listens on an address drawn from the pool: not current, not
// recent, not a socket a catalog service may be moved to, and free (one
// held by another process is left out and another drawn).
func (r *Running) openNext() (*adsListener, error) {
	s := &r.self
	taken := map[netip.AddrPort]bool{}
	for {
		a, err := s.pool.draw(func(a netip.AddrPort) bool {
			_, owned := r.planner.Catalog().Owner(a.Addr().String(), uint32(a.Port()))
			return !owned && !taken[a]
		})
		if err != nil {
			return nil, err
		}
		l, err := r.serveADS(s.ctx, a.String(), s.opts)
		if err != nil {
			r.log.Warn().Str("addr", a.String()).Err(err).Msg("xds: a pool address is taken, drawing another")
			taken[a] = true
			continue
		}
		s.pool.moved(a)
		return l, nil
	}
}

// MoveSelf moves the ADS port, make-before-break: it listens on the next
// address, announces it to every node, waits until each node that follows
// the announcement reconnected there (or the acknowledgement timeout), then
// closes the old address (GOAWAY, its streams end, the address refuses
// connections) and waits for the other nodes, which reconnect through their
// bootstrap (a DNS name or the pool), until the hard deadline; those still
// missing are reported.
func (r *Running) MoveSelf(ctx context.Context, trigger string) (SelfMoveRecord, error) {
	s := &r.self
	if s.pool == nil {
		return SelfMoveRecord{}, ErrNoAddrPool
	}
	if !s.run.TryLock() {
		return SelfMoveRecord{}, ErrSelfMoving
	}
	defer s.run.Unlock()
	r.listeners.mu.Lock()
	old := r.listeners.current
	r.listeners.mu.Unlock()
	next, err := r.openNext()
	if err != nil {
		r.selfMetrics.moves.WithLabelValues(trigger, "failed").Inc()
		return SelfMoveRecord{}, err
	}
	rec := SelfMoveRecord{At: time.Now().UTC(), Trigger: trigger, From: old.addr.String(), To: next.addr.String()}
	onOld := r.acks.nodesOn(old.gen)
	s.mu.Lock()
	s.onOld = onOld
	s.mu.Unlock()
	defer r.endSelfMove()
	start := time.Now()
	if err := r.announce(ctx, rec.To); err != nil {
		r.log.Error().Err(err).Msg("xds: announcing the control plane's next address")
	}
	sc := r.defaults
	followers := r.acks.subscribed(onOld, resource.RuntimeType, AnnounceName)
	r.acks.waitOn(ctx, next.gen, followers, start.Add(sc.AckTimeout))
	r.closeListener(old, time.Until(start.Add(sc.HardDeadline)))
	behind := r.acks.waitOn(ctx, next.gen, onOld, start.Add(sc.HardDeadline))
	rec.TookMS = float64(time.Since(start).Microseconds()) / 1000
	rec.Nodes, rec.Moved, rec.Laggards, rec.Lagging = len(onOld), len(onOld)-len(behind), firstN(behind, 20), len(behind)
	r.selfMoved(rec, behind, time.Since(start))
	return rec, nil
}

// selfMoved reports a move: metrics, the log (laggards by node id) and the
// record status shows.
func (r *Running) selfMoved(rec SelfMoveRecord, behind []string, took time.Duration) {
	m := r.selfMetrics
	result := "done"
	ev := r.log.Info()
	if len(behind) > 0 {
		result = "laggards"
		m.laggards.Add(float64(len(behind)))
		ev = r.log.Warn().Strs("laggards", firstN(behind, 20)).Int("laggard_count", len(behind))
	} else {
		m.took.Observe(took.Seconds())
	}
	m.moves.WithLabelValues(rec.Trigger, result).Inc()
	m.address.Reset()
	m.address.WithLabelValues(rec.To).Set(1)
	ev.Str("from", rec.From).Str("to", rec.To).Str("trigger", rec.Trigger).Int("nodes", rec.Nodes).
		Dur("took", took).Msg("control plane moved")
	r.self.mu.Lock()
	r.self.last = &rec
	r.self.mu.Unlock()
}

// keep says whether a node whose last stream closed stays known: while the
// control plane moves, a node of the old address is about to come back on
// the new one, and keeps its snapshot and versions: it is not configured
// anew (a move of the control plane must not cost a rebuild of every
// node's configuration), and what it is sent on the new stream is what it
// holds. A service move under way waits for its acknowledgement there.
func (r *Running) keep(node string) bool {
	r.self.mu.Lock()
	defer r.self.mu.Unlock()
	return r.self.onOld[node]
}

// endSelfMove forgets the nodes kept for a reconnect that never came.
func (r *Running) endSelfMove() {
	r.self.mu.Lock()
	kept := r.self.onOld
	r.self.onOld = nil
	r.self.mu.Unlock()
	live := map[string]bool{}
	r.acks.mu.Lock()
	for _, s := range r.acks.streams {
		live[s.node] = true
	}
	r.acks.mu.Unlock()
	for n := range kept {
		if !live[n] {
			r.dropNode(n)
		}
	}
}

// selfTimer moves the control plane every Every ± Jitter.
func (r *Running) selfTimer(ctx context.Context) {
	sr := r.cfg.Self
	if r.self.pool == nil || sr.Every <= 0 {
		return
	}
	sc := &catalog.Schedule{Every: sr.Every, Jitter: sr.Jitter}
	last := time.Now()
	for {
		due := rotation.NextDue(sc, last)
		r.self.mu.Lock()
		r.self.nextDue = due.UTC()
		r.self.mu.Unlock()
		if !r.sleepUntil(ctx, due) {
			return
		}
		last = time.Now()
		mctx, cancel := r.untilStop()
		if _, err := r.MoveSelf(mctx, string(rotation.CauseTimer)); err != nil {
			r.log.Error().Err(err).Msg("xds: timed move of the control plane failed")
		}
		cancel()
	}
}
