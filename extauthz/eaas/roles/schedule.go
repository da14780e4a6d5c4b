package roles

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/extauthz/eaas/keymanager"
)

// rotateOnSchedule gives every pair whose primary key is older than every a
// new primary, checking a tenth as often; replicas sharing a store rotate a
// due pair once between them (the key manager's compare-and-swap).
func rotateOnSchedule(ctx context.Context, m *keymanager.Manager, every time.Duration, x *metrics, log zerolog.Logger) {
	tick := time.NewTicker(max(every/10, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rotated, err := m.RotateOlderThan(ctx, every)
		x.keyOps.WithLabelValues("scheduled-rotate", result(err)).Add(float64(max(len(rotated), 1)))
		if err != nil {
			log.Error().Err(err).Msg("eaas: scheduled key rotation")
			continue
		}
		if len(rotated) > 0 {
			log.Info().Int("pairs", len(rotated)).Dur("older_than", every).Msg("eaas: rotated keys on schedule")
		}
	}
}
