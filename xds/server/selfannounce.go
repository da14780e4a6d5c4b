package server

import (
	"context"
	"fmt"
	"strconv"

	runtimev3 "github.com/envoyproxy/go-control-plane/envoy/service/runtime/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// The control plane tells every node where to find it in a resource of its
// snapshot: an RTDS layer (envoy.service.runtime.v3.Runtime), a type every
// ADS client may subscribe to over the stream it already trusts (mutual
// TLS, the server's certificate). It is built from the server's own state
// only: nothing a client sends goes into it.
const (
	AnnounceName       = "meshward-control-plane"
	AnnounceAddressKey = "meshward.xds.address" // host:port to reconnect to
	AnnounceEpochKey   = "meshward.xds.epoch"   // moves so far, as a number
)

// announcement is the resource and its version (the epoch); ok is false
// when the ADS port does not move.
func (r *Running) announcement() (rt *runtimev3.Runtime, epoch uint64, ok bool) {
	s := &r.self
	s.mu.Lock()
	epoch, addr := s.epoch, s.announced
	s.mu.Unlock()
	if s.pool == nil || epoch == 0 {
		return nil, 0, false
	}
	layer := &structpb.Struct{Fields: map[string]*structpb.Value{
		AnnounceAddressKey: structpb.NewStringValue(addr), AnnounceEpochKey: structpb.NewNumberValue(float64(epoch))}}
	return &runtimev3.Runtime{Name: AnnounceName, Layer: layer}, epoch, true
}

// withAnnouncement adds the announcement to a node's snapshot (before it is
// set) and notes the version the node is to acknowledge.
func (r *Running) withAnnouncement(node string, snap *cachev3.Snapshot) {
	rt, epoch, ok := r.announcement()
	if !ok {
		return
	}
	v := strconv.FormatUint(epoch, 10)
	snap.Resources[types.Runtime] = cachev3.NewResources(v, []types.Resource{rt})
	r.acks.target(node, resource.RuntimeType, epoch, map[string]bool{AnnounceName: true})
}

// announce tells every node (a quarantined one excepted: it is told
// nothing) that the control plane is to be found at addr; the other
// resources keep their versions, so only the announcement is sent.
func (r *Running) announce(ctx context.Context, addr string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.self.mu.Lock()
	r.self.epoch++
	r.self.announced = addr
	r.self.mu.Unlock()
	for id, n := range r.nodes {
		if r.frozen(n.identity) {
			continue
		}
		cur, err := r.cache.GetSnapshot(id)
		if err != nil {
			continue // not configured yet: its first snapshot will carry the announcement
		}
		old, ok := cur.(*cachev3.Snapshot)
		if !ok {
			return fmt.Errorf("xds: node %q: a snapshot of type %T", id, cur)
		}
		snap := &cachev3.Snapshot{Resources: old.Resources} // an array: a copy; the version map is rebuilt
		r.withAnnouncement(id, snap)
		if err := r.cache.SetSnapshot(ctx, id, snap); err != nil {
			return fmt.Errorf("xds: node %q: %w", id, err)
		}
	}
	return nil
}
