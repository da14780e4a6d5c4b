package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/rotation"
)

// Reload serves a new catalog (the catalog file or its MeshwardRotations
// changed): services keep their endpoints where the new catalog still lets
// them be, new ones start from theirs, removed ones are gone, every node is
// told what changed for it, and the timers follow the new schedules. A
// move under way is let finish first. The catalog has passed every check
// already (catalog.Parse, WithRotations); a reload that fails leaves the
// old one served.
func (r *Running) Reload(ctx context.Context, cat *catalog.Catalog) error {
	for {
		r.mu.Lock()
		p, err := r.planner.SetCatalog(cat)
		done := r.moved
		if err == nil {
			err = r.recordReload(ctx, p)
		}
		if err == nil {
			err = r.publish(ctx, p)
		}
		r.mu.Unlock()
		switch {
		case err == nil:
			r.startTimers(ctx)
			r.metrics.reloads.WithLabelValues("ok").Inc()
			r.log.Info().Int("services", len(cat.Services)).Uint64("version", p.Version).Msg("catalog reloaded")
			return nil
		case !errors.Is(err, rotation.ErrMoving):
			r.metrics.reloads.WithLabelValues("failed").Inc()
			return fmt.Errorf("xds: reload: %w", err)
		}
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		case <-r.stop:
			return errors.New("xds: stopping")
		}
	}
}
