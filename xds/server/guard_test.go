package server

import (
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/meshward/meshward/internal/identity"
)

func TestNodeMatches(t *testing.T) {
	id := "spiffe://cluster.local/ns/shop/sa/frontend"
	for _, tc := range []struct {
		node string
		ok   bool
	}{
		{id, true}, {id + "~pod-1", true},
		{id + "~", false}, {id + "~a/b", false}, {id + "~a~b", false}, {id + "x", false},
		{"spiffe://cluster.local/ns/shop/sa/orders", false}, {"spiffe://cluster.local/ns/shop/sa/frontend/x", false}, {"", false},
	} {
		if NodeMatches(tc.node, id) != tc.ok {
			t.Errorf("NodeMatches(%q) = %v", tc.node, !tc.ok)
		}
	}
}

// A workload with a valid mesh certificate cannot ask for another node's
// configuration, rename itself mid-stream, hold many streams open or flood
// the control plane: each attempt ends its stream and is counted.
func TestADSGuard(t *testing.T) {
	r, creds, front := frontendOverMTLS(t, Config{MaxStreamsPerIdentity: 3, RequestsPerSecond: 1})
	ask := func(node string) (*discoveryv3.DiscoveryRequest, discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient, error) {
		s, err := ads(t, r.Addr.String(), creds)
		if err != nil {
			return nil, nil, err
		}
		req := &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: node}, TypeUrl: resource.ListenerType, ResourceNames: []string{"orders"}}
		// A stream refused when it opens may fail the Send with a bare EOF;
		// its status comes with Recv.
		_ = s.Send(req)
		_, err = s.Recv()
		return req, s, err
	}
	for _, tc := range []struct {
		name, node, want string
	}{
		{"another workload's node", identity.SPIFFE("shop", "orders"), "PermissionDenied"},
		{"an instance of another", identity.SPIFFE("shop", "orders") + "~pod", "PermissionDenied"},
		{"own identity", front, ""},
		{"own instance", front + "~pod-1", ""},
	} {
		_, _, err := ask(tc.node)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	req, s, err := ask(front + "~pod-2")
	if err != nil {
		t.Fatal(err)
	}
	req.Node.Id = front + "~pod-3"
	if err := s.Send(req); err == nil {
		if _, err = s.Recv(); err == nil || !strings.Contains(err.Error(), "cannot change") {
			t.Errorf("renamed mid-stream: %v", err)
		}
	}
	// A burst of requests on a stream ends it.
	_, flood, err := ask(front)
	for i := 0; i < 2*requestBurst && err == nil; i++ {
		err = flood.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resource.ListenerType, ResourceNames: []string{"orders"}})
	}
	if flood != nil { // answers, then the refusal (a failed Send says only EOF)
		for err = nil; err == nil; {
			_, err = flood.Recv()
		}
	}
	if err == nil || !strings.Contains(err.Error(), "too fast") {
		t.Errorf("a request flood: %v", err)
	}
	// Two streams of this identity are still open (the refused ones are
	// closed once the server saw them end); the third is admitted, the
	// fourth is not.
	waitFor(t, func() bool { n, _ := r.acks.connected(); return n == 2 })
	if _, _, err := ask(front); err != nil {
		t.Fatalf("third stream: %v", err)
	}
	if _, _, err := ask(front); err == nil || !strings.Contains(err.Error(), "too many ADS streams") {
		t.Errorf("fourth stream: %v", err)
	}
	for reason, atLeast := range map[string]float64{"node-identity": 2, "node-changed": 1, "rate": 1, "too-many-streams": 1} {
		if got := testutil.ToFloat64(r.metrics.streamsRefused.WithLabelValues(reason)); got < atLeast {
			t.Errorf("refused{%s} = %v, want ≥ %v", reason, got, atLeast)
		}
	}
}
