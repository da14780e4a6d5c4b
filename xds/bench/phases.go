package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/meshward/meshward/xds/catalog"
)

// ramp connects every client and waits until each has ACKed all four types,
// its endpoints at key.
func (b *run) ramp(ctx, clientCtx context.Context, key string) error {
	before, err := measureMemory()
	if err != nil {
		return err
	}
	r := b.tr.arm(func(s *clientState) bool { return s.acked == ackedAll && s.key == key }, map[string]bool{key: true})
	var start time.Time
	b.rep.RampCPU, err = measureCPU(func() error {
		start = time.Now()
		b.start(clientCtx)
		return b.wait(ctx, r, "ramp")
	})
	if err != nil {
		return err
	}
	b.rep.Ramp = latest(r.at).Sub(start)
	after, err := measureMemory()
	if err != nil {
		return err
	}
	b.rep.MemBefore, b.rep.MemAfterRamp = before, after
	b.rep.InitialVersion, err = b.tr.agreed()
	fmt.Fprintf(b.progress, "xds-bench %s %d clients: ramp %v (every client ACKed LDS, RDS, CDS and EDS version %q)\n",
		b.cfg.Mode, b.cfg.Clients, b.rep.Ramp.Round(time.Millisecond), b.rep.InitialVersion)
	return err
}

// start starts every client; their goroutines carry the client label.
func (b *run) start(ctx context.Context) {
	addr := b.srv.Addr.String()
	onSide(ctx, sideClient, func(ctx context.Context) {
		for i := range b.cfg.Clients {
			c := newClient(i, service, b.cfg.Mode == Delta, b.tr)
			b.clients.Add(1)
			go func() {
				defer b.clients.Done()
				err := c.run(ctx, addr)
				if ctx.Err() == nil {
					b.tr.fail(fmt.Errorf("client %d: %w", i, err))
				}
			}()
		}
	})
}

// rotate moves the service R times, one rotation at a time; prev is the
// endpoints every client holds.
func (b *run) rotate(ctx context.Context, prev string) error {
	var err error
	b.rep.RotationCPU, err = measureCPU(func() error {
		version := b.rep.InitialVersion
		for k := range b.cfg.Rotations {
			rot, err := b.rotateOnce(ctx, prev)
			if err != nil {
				return fmt.Errorf("rotation %d: %w", k+1, err)
			}
			if rot.Version == version {
				return fmt.Errorf("rotation %d: endpoints %s came as version %q, the version before", k+1, rot.Endpoints, version)
			}
			fmt.Fprintf(b.progress, "xds-bench %s %d clients: rotation %d/%d to %s (version %q): last ACK %v\n", b.cfg.Mode,
				b.cfg.Clients, k+1, b.cfg.Rotations, rot.Endpoints, rot.Version, rot.Last().Round(time.Microsecond))
			b.rep.Rounds = append(b.rep.Rounds, rot)
			prev, version = rot.Endpoints, rot.Version
		}
		return nil
	})
	return err
}

func (b *run) rotateOnce(ctx context.Context, prev string) (Rotation, error) {
	var eps []catalog.Endpoint
	var err error
	start := time.Now()
	onSide(ctx, sideServer, func(ctx context.Context) {
		p, merr := b.srv.Move(ctx, service, 0, "bench")
		if err = merr; err == nil {
			eps = p.Endpoints(service)
		}
	})
	move := time.Since(start)
	if err != nil {
		return Rotation{}, err
	}
	key := endpointsKey(eps)
	if key == prev {
		return Rotation{}, fmt.Errorf("the move left the endpoints at %s", key)
	}
	r := b.tr.arm(func(s *clientState) bool { return s.key == key }, map[string]bool{prev: true, key: true})
	if err := b.wait(ctx, r, "rotation to "+key); err != nil {
		return Rotation{}, err
	}
	rot := Rotation{Endpoints: key, Move: move, Convergence: make([]time.Duration, len(r.at))}
	for i, at := range r.at {
		rot.Convergence[i] = at.Sub(start)
	}
	rot.Version, err = b.tr.agreed()
	return rot, err
}

// phaseCPU is the process's CPU time in a phase and, if a profile could be
// taken, its split by side.
type phaseCPU struct {
	Total  time.Duration
	Shares map[string]time.Duration
}

func measureCPU(f func() error) (phaseCPU, error) {
	c0, err := cpuTime()
	if err != nil {
		return phaseCPU{}, err
	}
	p := startProfile()
	ferr := f()
	shares, perr := p.stop()
	c1, cerr := cpuTime()
	if ferr != nil {
		return phaseCPU{}, ferr
	}
	return phaseCPU{Total: c1 - c0, Shares: shares}, errors.Join(perr, cerr)
}

func latest(ts []time.Time) time.Time {
	var l time.Time
	for _, t := range ts {
		if t.After(l) {
			l = t
		}
	}
	return l
}
