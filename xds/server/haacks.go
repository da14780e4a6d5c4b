package server

import (
	"context"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// ackApplied records, once this replica's clients acknowledged the
// placement v it serves from the log, that they are at v: the leader's
// moves wait for it as for their own clients.
func (r *Running) ackApplied(ctx context.Context, v uint64) {
	deadline := time.Now().Add(r.defaults.AckTimeout)
	var names []string
	for _, s := range r.planner.Catalog().Services {
		names = append(names, clusterNames(s)...)
	}
	behind := r.acks.wait(ctx, waitSet{typ: resource.EndpointType, names: names}, deadline)
	if len(behind) > 0 {
		// Not recorded: the leader reports this replica behind, as it
		// reports its own clients that did not acknowledge.
		r.log.Warn().Uint64("version", v).Strs("behind", firstN(behind, 20)).Msg("xds: clients behind the recorded placement")
		return
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := r.cfg.HA.Log.Ack(actx, r.cfg.HA.ID, v, r.haLease); err != nil {
		r.log.Error().Err(err).Uint64("version", v).Msg("xds: recording the acknowledgement")
	}
}

// replicasBehind waits, on the leader, for the other replicas' clients to
// be at version v; it names the replicas behind at the deadline.
func (r *Running) replicasBehind(ctx context.Context, v uint64, deadline time.Time) []string {
	if r.cfg.HA == nil {
		return nil
	}
	var out []string
	for _, id := range r.cfg.HA.Log.WaitAcked(ctx, r.cfg.HA.ID, v, deadline) {
		out = append(out, "replica:"+id)
	}
	return out
}
