package server

import (
	"context"
	"time"

	"github.com/meshward/meshward/internal/election"
	"github.com/meshward/meshward/xds/rotation"
)

// lead is one term: catch up with the log, finish the moves the last
// leader left half done, run the timers; until the term ends.
func (r *Running) lead(ctx context.Context) {
	f, ok := election.FenceOf(ctx)
	if !ok {
		r.log.Error().Msg("xds: the election gives no fence: not leading")
		<-ctx.Done()
		return
	}
	if err := r.takeOver(ctx, f); err != nil {
		r.log.Error().Err(err).Msg("xds: taking over")
		r.term.mu.Lock()
		r.term.fence = nil
		r.term.mu.Unlock()
		return // the election campaigns again
	}
	r.log.Info().Uint64("version", r.planner.Current().Version).Msg("xds: leading")
	r.resumeMoves(ctx)
	r.startTimers(ctx)
	<-ctx.Done()
	r.term.mu.Lock()
	r.term.fence = nil
	r.term.mu.Unlock()
	r.log.Warn().Msg("xds: no longer leading; following the placement log")
}

// takeOver serves the log's last placement (the watch may lag) and, on an
// empty log, records the one served.
func (r *Running) takeOver(ctx context.Context, f election.Fence) error {
	st, _, ok, err := r.cfg.HA.Log.Head(ctx)
	if err != nil {
		return err
	}
	if ok {
		if err := r.apply(ctx, st); err != nil {
			return err
		}
	}
	r.term.mu.Lock()
	r.term.fence = &f
	r.term.mu.Unlock()
	if ok {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.record(ctx, r.planner.Current())
}

// resumeMoves finishes what the last leader left half done, instead of
// starting other moves: an announced move drains for its grace and
// closes; one not announced is abandoned.
func (r *Running) resumeMoves(ctx context.Context) {
	for _, s := range r.planner.Current().Services() {
		m, announced, ok := r.planner.Resume(s)
		if !ok {
			continue
		}
		r.log.Warn().Str("service", s).Bool("announced", announced).Msg("xds: finishing a move the last leader left half done")
		if !announced {
			if _, err := r.step(ctx, m, r.planner.Abandon); err != nil {
				r.log.Error().Err(err).Str("service", s).Msg("abandoning a half-done move")
			}
			r.endMove()
			continue
		}
		go r.drainResumed(ctx, m)
	}
}

// drainResumed closes a resumed move's old sockets after the grace; its
// clients were told of the new ones before the last leader died.
func (r *Running) drainResumed(ctx context.Context, m rotation.Move) {
	t := time.NewTimer(r.schedule(m.Service).Grace)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return // the next leader resumes it
	}
	if _, err := r.step(ctx, m, r.planner.Close); err != nil {
		r.log.Error().Err(err).Str("service", m.Service).Msg("closing a resumed move's old sockets")
	}
	r.endMove()
}
