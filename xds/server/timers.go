package server

import (
	"context"
	"errors"
	"time"

	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/rotation"
)

// startTimers moves each service with a schedule by itself: every
// Every ± Jitter, outside its blackouts, within its MaxPerHour. A service
// with a pool but no schedule moves every Config.RotateEvery, if set.
func (r *Running) startTimers(ctx context.Context) {
	if r.leaderOnly() != nil {
		return // a follower moves nothing; its term starts them
	}
	ctx, cancel := context.WithCancel(ctx)
	r.mu.Lock()
	if r.stopTimers != nil {
		r.stopTimers() // the previous catalog's
	}
	r.stopTimers = cancel
	clear(r.nextDue)
	r.mu.Unlock()
	for _, s := range r.planner.Catalog().Services {
		sc := s.Rotation
		if sc == nil && r.cfg.RotateEvery > 0 && (s.PoolPorts() > 0 || len(s.Addresses) > 0) {
			d := r.defaults
			d.Every = r.cfg.RotateEvery
			sc = &d
		}
		if sc != nil {
			go r.timer(ctx, s.Name, sc)
		}
	}
}

func (r *Running) timer(ctx context.Context, service string, sc *catalog.Schedule) {
	last := time.Now()
	for {
		due := rotation.NextDue(sc, last)
		r.setNextDue(service, due)
		if !r.sleepUntil(ctx, due) {
			return
		}
		last = time.Now()
		_, err := r.Move(ctx, service, 0, string(rotation.CauseTimer))
		switch {
		case errors.Is(err, ErrFollower):
			return // the term ended; the next one starts timers anew
		case errors.Is(err, rotation.ErrBlackout) || errors.Is(err, rotation.ErrBudget):
			r.metrics.held.WithLabelValues(service, heldReason(err)).Inc()
			r.log.Debug().Str("service", service).Err(err).Msg("timed move held back")
		case err != nil:
			r.log.Error().Err(err).Str("service", service).Msg("timed move failed")
		}
	}
}

func heldReason(err error) string {
	if errors.Is(err, rotation.ErrBlackout) {
		return "blackout"
	}
	return "budget"
}

// sleepUntil waits for due; false if the server stopped or ctx ended first.
func (r *Running) sleepUntil(ctx context.Context, due time.Time) bool {
	t := time.NewTimer(time.Until(due))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.stop:
	case <-ctx.Done():
	}
	return false
}
