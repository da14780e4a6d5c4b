package envoy

import (
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// limitsOf are the per-connection buffer limits of a build, by resource
// name (0: Envoy's default).
func limitsOf(r Resources) map[string]uint32 {
	out := map[string]uint32{}
	for _, it := range r[resource.ListenerType] {
		l := it.(*listenerv3.Listener)
		out[l.Name] = l.GetPerConnectionBufferLimitBytes().GetValue()
	}
	for _, it := range r[resource.ClusterType] {
		c := it.(*clusterv3.Cluster)
		out[c.Name] = c.GetPerConnectionBufferLimitBytes().GetValue()
	}
	return out
}

// An EaaS body larger than Envoy's default 1 MiB buffer would fail with 413
// in a real sidecar: the limits follow the plugin configuration.
func TestBufferLimitsFollowEaaSBodies(t *testing.T) {
	const mib = 1 << 20
	plain := `{"authorizer_cluster":"meshward-authz"}`
	in2 := `{"authorizer_cluster":"meshward-authz","eaas":{"enabled":true,"direction":"inbound","max_body_bytes":2097152}}`
	out3 := `{"authorizer_cluster":"meshward-authz","eaas":{"enabled":true,"direction":"outbound","max_body_bytes":3145728}}`
	outDefault := `{"authorizer_cluster":"meshward-authz","eaas":{"enabled":true,"direction":"outbound"}}`
	tests := []struct {
		name                    string
		inbound, outbound       string
		explicit                uint32
		wantIn, wantOut, wantCo uint32
		wantErr                 string
	}{
		{name: "no EaaS keeps Envoy's default", inbound: plain},
		{name: "inbound EaaS", inbound: in2, wantIn: 2*mib + bufferSlack, wantCo: calloutAnswerBytes},
		{name: "outbound EaaS", inbound: plain, outbound: out3, wantOut: 3*mib + bufferSlack, wantCo: calloutAnswerBytes},
		{name: "the filter's default body", inbound: plain, outbound: outDefault, wantOut: 8*mib + bufferSlack, wantCo: calloutAnswerBytes},
		{name: "explicit, large enough", inbound: in2, explicit: 4 * mib, wantIn: 4 * mib, wantOut: 4 * mib, wantCo: calloutAnswerBytes},
		{name: "explicit without EaaS", inbound: plain, explicit: 2 * mib, wantIn: 2 * mib, wantOut: 2 * mib, wantCo: 2 * mib},
		{name: "explicit below the EaaS body", inbound: in2, explicit: mib, wantErr: "BufferLimitBytes: 1048576 is below"},
		{name: "explicit too large", inbound: plain, explicit: MaxBufferLimitBytes + 1, wantErr: "BufferLimitBytes: 67174401: at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sidecar("orders-1", "orders", "127.0.0.20", peer("payments", 8080, Socket{"127.0.0.30", 41000}))
			s.Draining = []Socket{{"127.0.0.20", 41001}}
			s.Filter.Inbound, s.Filter.Outbound, s.BufferLimitBytes = tt.inbound, tt.outbound, tt.explicit
			r, err := Build(s)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Build: %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := limitsOf(r)
			want := map[string]uint32{
				InboundListenerName(s.Inbound[0]):    tt.wantIn,
				InboundListenerName(s.Draining[0]):   tt.wantIn,
				InboundClusterName(s.Service, s.App): tt.wantIn,
				OutboundListenerName(s.Outbound):     tt.wantOut,
				OutboundClusterName(s.Calls[0]):      tt.wantOut,
				AuthzHTTPCluster:                     tt.wantCo,
				AuthzGRPCCluster:                     0,
			}
			for name, w := range want {
				if got[name] != w {
					t.Errorf("%s: per_connection_buffer_limit_bytes %d, want %d", name, got[name], w)
				}
			}
		})
	}
}
