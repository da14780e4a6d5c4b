package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/meshward/meshward/internal/election"
	"github.com/meshward/meshward/xds/placementlog"
	"github.com/meshward/meshward/xds/rotation"
)

// HA runs the server as one of several replicas: every replica serves ADS,
// only the elected leader plans moves (timers, events, POST /rotate), and
// records each placement in the log before it serves it; the others serve
// what the log says.
type HA struct {
	ID      string           // this replica's name, as in the election
	Elector election.Elector // an etcd election: its terms fence the log's writes
	Log     *placementlog.Log
}

// ErrFollower: only the leader moves services.
var ErrFollower = errors.New("not the leader: only the leading replica moves services")

// term is the leadership this replica holds, if any.
type term struct {
	mu       sync.Mutex
	fence    *election.Fence // nil: following
	recorded uint64          // the last version this replica recorded or applied
}

func (t *term) leading() (election.Fence, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fence == nil {
		return election.Fence{}, false
	}
	return *t.fence, true
}

// leaderOnly refuses a move on a follower.
func (r *Running) leaderOnly() error {
	if r.cfg.HA == nil {
		return nil
	}
	if _, ok := r.term.leading(); !ok {
		return fmt.Errorf("xds: %w (leader: %q)", ErrFollower, r.cfg.HA.Elector.Leader())
	}
	return nil
}

// record writes p to the log before it is served; the caller holds r.mu.
// A replica that is not leading (any more) records nothing, and the step
// fails.
func (r *Running) record(ctx context.Context, p *rotation.Placement) error {
	if r.cfg.HA == nil {
		return nil
	}
	f, ok := r.term.leading()
	if !ok {
		return fmt.Errorf("xds: placement v%d: %w", p.Version, ErrFollower)
	}
	r.term.mu.Lock()
	prev := r.term.recorded
	r.term.mu.Unlock()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := r.cfg.HA.Log.Append(rctx, f, prev, p.State()); err != nil {
		return err
	}
	r.term.mu.Lock()
	r.term.recorded = p.Version
	r.term.mu.Unlock()
	return nil
}

// startHA serves the log's last placement, follows the log, and campaigns.
func (r *Running) startHA(ctx context.Context) error {
	hctx, cancel := r.untilStop()
	go func() { <-ctx.Done(); cancel() }()
	var err error
	if r.haLease, err = r.cfg.HA.Log.Lease(hctx, election.DefaultTiming.LeaseDuration); err != nil {
		return err
	}
	st, rev, ok, err := r.cfg.HA.Log.Head(ctx)
	if err != nil {
		return err
	}
	if ok {
		if err := r.apply(ctx, st); err != nil {
			return err
		}
		go r.ackApplied(hctx, st.Version)
	}
	go r.cfg.HA.Log.Follow(hctx, rev, func(st rotation.State) {
		if _, leading := r.term.leading(); !leading {
			if err := r.apply(hctx, st); err != nil {
				r.log.Error().Err(err).Uint64("version", st.Version).Msg("xds: the recorded placement cannot be served")
				return
			}
			go r.ackApplied(hctx, st.Version)
		}
	}, func(err error) { r.log.Error().Err(err).Msg("xds: placement log") })
	go func() { _ = r.cfg.HA.Elector.Run(hctx, r.lead) }()
	return nil
}

// apply serves a recorded placement.
func (r *Running) apply(ctx context.Context, st rotation.State) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, err := r.planner.Adopt(st)
	if err != nil {
		return err
	}
	r.term.mu.Lock()
	r.term.recorded = st.Version
	r.term.mu.Unlock()
	return r.publish(ctx, p)
}

// recordReload records the placement of a reloaded catalog on the leader.
// A follower serves it until the log's next placement replaces it
// (snapshots are versioned by content, so its own version numbers never
// reach a client). The caller holds r.mu.
func (r *Running) recordReload(ctx context.Context, p *rotation.Placement) error {
	if _, ok := r.term.leading(); r.cfg.HA == nil || !ok {
		return nil
	}
	return r.record(ctx, p)
}
