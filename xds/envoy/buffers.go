package envoy

import (
	"encoding/json"
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Envoy holds at most per_connection_buffer_limit_bytes of a body a filter
// buffers (413 past it) and of a callout's answer (the callout fails).
// The filter must hold a whole EaaS body to have it sealed or opened, so
// with Envoy's default of 1 MiB every EaaS message between 1 MiB and
// eaas.max_body_bytes (8 MiB by default) would fail in a real sidecar.
const (
	// defaultEaaSBodyBytes is the filter's eaas.max_body_bytes default.
	defaultEaaSBodyBytes = 8 << 20
	// bufferSlack covers what travels with a body: the envelope's header,
	// the response binding, the frames' headers.
	bufferSlack = 64 << 10
	// calloutAnswerBytes bounds what the coordinator answers one call with
	// (its batch limit): a decryption's answer is 2^t frames of the body.
	calloutAnswerBytes = 64<<20 + bufferSlack
	// MaxBufferLimitBytes bounds BufferLimitBytes: a larger buffer per
	// connection would let any caller make the sidecar hold that much.
	MaxBufferLimitBytes = calloutAnswerBytes
)

// bufferLimits are the per-connection limits by where they apply; 0 keeps
// Envoy's default.
type bufferLimits struct {
	inbound  uint32 // inbound listeners and the local application's cluster
	outbound uint32 // the outbound listener and the peers' clusters
	callout  uint32 // the authorizer's check port and the EaaS coordinator
}

// eaasBody is the largest EaaS body a plugin configuration lets the filter
// hold, 0 when it does no EaaS. The configuration was checked before.
func eaasBody(raw string) int64 {
	var c pluginConfig
	if raw == "" || json.Unmarshal([]byte(raw), &c) != nil || !c.EAAS.Enabled {
		return 0
	}
	if c.EAAS.MaxBodyBytes <= 0 {
		return defaultEaaSBodyBytes
	}
	return c.EAAS.MaxBodyBytes
}

// bufferLimits sizes the limits from the plugin configurations, or checks
// an explicit BufferLimitBytes against them.
func (s *Sidecar) bufferLimits() (bufferLimits, error) {
	in, out := eaasBody(s.Filter.Inbound), eaasBody(s.Filter.Outbound)
	need := func(body int64) uint32 {
		if body == 0 {
			return 0
		}
		return uint32(min(body+bufferSlack, MaxBufferLimitBytes))
	}
	l := bufferLimits{inbound: need(in), outbound: need(out)}
	if in > 0 || out > 0 {
		l.callout = calloutAnswerBytes
	}
	b := s.BufferLimitBytes
	switch {
	case b == 0:
		return l, nil
	case b > MaxBufferLimitBytes:
		return l, fieldErr("BufferLimitBytes", fmt.Errorf("%d: at most %d", b, MaxBufferLimitBytes))
	case b < max(l.inbound, l.outbound):
		return l, fieldErr("BufferLimitBytes", fmt.Errorf("%d is below what an EaaS body of eaas.max_body_bytes needs (%d): "+
			"bodies between would fail with 413", b, max(l.inbound, l.outbound)))
	}
	return bufferLimits{inbound: b, outbound: b, callout: max(b, l.callout)}, nil
}

// applyBufferLimits sets the limits on the built resources.
func (s *Sidecar) applyBufferLimits(r Resources, l bufferLimits) {
	set := func(v uint32) *wrapperspb.UInt32Value {
		if v == 0 {
			return nil
		}
		return wrapperspb.UInt32(v)
	}
	for _, it := range r[resource.ListenerType] {
		ln := it.(*listenerv3.Listener)
		ln.PerConnectionBufferLimitBytes = set(l.inbound)
		if ln.Name == OutboundListenerName(s.Outbound) {
			ln.PerConnectionBufferLimitBytes = set(l.outbound)
		}
	}
	for _, it := range r[resource.ClusterType] {
		c := it.(*clusterv3.Cluster)
		switch c.Name {
		case InboundClusterName(s.Service, s.App):
			c.PerConnectionBufferLimitBytes = set(l.inbound)
		case AuthzHTTPCluster, EaaSCluster:
			c.PerConnectionBufferLimitBytes = set(l.callout)
		case AuthzGRPCCluster, WasmCodeCluster:
		default:
			c.PerConnectionBufferLimitBytes = set(l.outbound)
		}
	}
}
