package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/rotation"
)

// Move moves service (port 0: to sockets drawn from its pools; otherwise
// every endpoint to port), make-before-break: the new sockets are served
// first, then announced to every client, and the old ones are served on
// until every client that uses the service acknowledged the new endpoints
// (or the hard deadline passed) and a grace period for requests in flight
// ran out. It returns once the clients acknowledged the new endpoints (or
// their time ran out: they are reported); the old sockets close later.
func (r *Running) Move(ctx context.Context, service string, port uint32, trigger string) (*rotation.Placement, error) {
	if err := r.leaderOnly(); err != nil {
		return nil, err
	}
	if trigger != "admin" { // an operator's move is the operator's call
		if err := r.planner.Admit(service, rotation.Cause(trigger), time.Now()); err != nil {
			return nil, err
		}
	}
	m, err := r.plan(ctx, service, port)
	if err != nil {
		return nil, err
	}
	sc := r.schedule(service)
	if err := r.open(ctx, m, sc); err != nil {
		return nil, err
	}
	start := time.Now()
	p, err := r.step(ctx, m, r.planner.Announce)
	if err != nil {
		r.callOff(m)
		return nil, err
	}
	r.metrics.rotations.WithLabelValues(service, trigger).Inc()
	svc, _ := r.planner.Catalog().Lookup(service)
	callers := waitSet{typ: resource.EndpointType, names: clusterNames(svc)}
	behind := r.acks.wait(ctx, callers, start.Add(sc.AckTimeout))
	behind = append(behind, r.replicasBehind(ctx, p.Version, start.Add(sc.AckTimeout))...)
	r.converged(service, p, start, behind, trigger)
	r.recordMove(service, trigger, time.Since(start), len(behind))
	go r.drain(m, callers, start, behind, sc)
	return p, nil
}

// open has the service's sidecars listen on the new sockets too and waits
// until each acknowledged its listeners: callers are told of a socket only
// once it is open. A sidecar that does not acknowledge in time ends the
// move: announcing then would send callers to a closed socket.
func (r *Running) open(ctx context.Context, m rotation.Move, sc catalog.Schedule) error {
	r.mu.Lock()
	sidecars, fronted := r.sidecarsOf(m.Service), r.fronted[m.Service]
	r.mu.Unlock()
	if fronted && len(sidecars) == 0 {
		// The service runs behind sidecars and none is connected: nobody
		// would open the new sockets.
		_, err := r.step(context.Background(), m, r.planner.Abandon)
		r.endMove()
		return errors.Join(fmt.Errorf("xds: %w: no sidecar of %q is connected", ErrNotOpened, m.Service), err)
	}
	if svc, _ := r.planner.Catalog().Lookup(m.Service); len(sidecars) > 0 && r.frozen(svc.Identity) {
		// Its sidecars are told nothing while quarantined: they would never
		// open the new sockets, and callers would be sent to closed ones.
		_, err := r.step(context.Background(), m, r.planner.Abandon)
		r.endMove()
		return errors.Join(fmt.Errorf("xds: %w: the sidecars of %q are quarantined", ErrNotOpened, m.Service), err)
	}
	if _, err := r.step(ctx, m, r.planner.Open); err != nil {
		r.callOff(m)
		return err
	}
	behind := r.acks.wait(ctx, waitSet{typ: resource.ListenerType, nodes: sidecars}, time.Now().Add(sc.AckTimeout))
	if len(behind) == 0 {
		return nil
	}
	r.metrics.laggards.WithLabelValues(m.Service).Add(float64(len(behind)))
	r.callOff(m)
	return fmt.Errorf("xds: %w: %d sidecars of %q did not open the new sockets in %v (%v)", ErrNotOpened,
		len(behind), m.Service, sc.AckTimeout, firstN(behind, 5))
}

// ErrNotOpened: the service's sidecars did not acknowledge their new
// listeners, and the move was called off.
var ErrNotOpened = errors.New("move called off")

// plan waits for the service's previous move to end: moves of one service
// follow each other, each made before it breaks.
func (r *Running) plan(ctx context.Context, service string, port uint32) (rotation.Move, error) {
	for {
		// The channel is taken before the planner is asked: a move that
		// ends in between closes this one, so its end is never missed.
		r.mu.Lock()
		done := r.moved
		r.mu.Unlock()
		var m rotation.Move
		var err error
		if port == 0 {
			m, err = r.planner.Plan(service)
		} else {
			m, err = r.planner.PlanPort(service, port)
		}
		if !errors.Is(err, rotation.ErrMoving) {
			return m, err
		}
		select {
		case <-done:
		case <-ctx.Done():
			return m, ctx.Err()
		case <-r.stop:
			return m, errors.New("xds: stopping")
		}
	}
}

// step applies one step of a move and serves the result.
func (r *Running) step(ctx context.Context, m rotation.Move, do func(rotation.Move) (*rotation.Placement, error)) (*rotation.Placement, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, err := do(m)
	if err != nil {
		return nil, err
	}
	if err := r.record(ctx, p); err != nil { // recorded before it is served
		return nil, err
	}
	if err := r.publishMove(ctx, p, m.Service); err != nil {
		return nil, err
	}
	return p, nil
}

// converged reports how a move's announcement went.
func (r *Running) converged(service string, p *rotation.Placement, start time.Time, behind []string, trigger string) {
	took := time.Since(start)
	if len(behind) == 0 {
		r.metrics.convergence.WithLabelValues(service).Observe(took.Seconds())
	}
	r.metrics.laggards.WithLabelValues(service).Add(float64(len(behind)))
	ev := r.log.Info()
	if len(behind) > 0 {
		ev = r.log.Warn().Strs("behind", firstN(behind, 20)).Int("behind_count", len(behind))
	}
	ev.Str("service", service).Uint64("version", p.Version).Str("endpoints", fmt.Sprint(p.Endpoints(service))).
		Str("trigger", trigger).Dur("converged_in", took).Msg("service moved")
}

// drain keeps the old sockets served until the clients that were behind
// caught up (or the hard deadline passed), then for the grace period, then
// closes them.
func (r *Running) drain(m rotation.Move, callers waitSet, start time.Time, behind []string, sc catalog.Schedule) {
	ctx, cancel := r.untilStop()
	defer cancel()
	if len(behind) > 0 {
		still := r.acks.wait(ctx, callers, start.Add(sc.HardDeadline))
		if len(still) > 0 {
			r.log.Warn().Str("service", m.Service).Strs("behind", firstN(still, 20)).Int("behind_count", len(still)).
				Msg("hard deadline: closing the old sockets although some clients never acknowledged the new ones")
		}
	}
	select {
	case <-time.After(sc.Grace):
	case <-ctx.Done():
	}
	if _, err := r.step(context.Background(), m, r.planner.Close); err != nil {
		r.log.Error().Err(err).Str("service", m.Service).Msg("closing the old sockets")
	}
	r.endMove()
}

// callOff abandons a move that failed before its announcement was served,
// so that the service's next move is not left waiting for it.
func (r *Running) callOff(m rotation.Move) {
	if _, err := r.step(context.Background(), m, r.planner.Abandon); err != nil {
		r.log.Error().Err(err).Str("service", m.Service).Msg("abandoning a move")
	}
	r.endMove()
}

// endMove wakes the moves waiting for this one to end.
func (r *Running) endMove() {
	r.mu.Lock()
	close(r.moved)
	r.moved = make(chan struct{})
	r.mu.Unlock()
}

// schedule is the service's own, or the server's defaults.
func (r *Running) schedule(service string) catalog.Schedule {
	if s, ok := r.planner.Catalog().Lookup(service); ok && s.Rotation != nil {
		return *s.Rotation
	}
	return r.defaults
}

func firstN(xs []string, n int) []string { return xs[:min(len(xs), n)] }

// untilStop is a context that ends when the server stops (or cancel is
// called): for work that outlives the call that started it.
func (r *Running) untilStop() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-r.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
