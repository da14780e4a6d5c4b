package server

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshward/meshward/internal/identity"
)

// marker is a name each attack subscribes to: if the server kept it, the
// request was taken.
const marker = "redteam-marker"

func manyNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("name-%07d", i)
	}
	return append(out, marker)
}

// kept says whether a stream of identity holds the marker under any type:
// the server took an attack request.
func (g redRig) kept(id string) bool {
	g.r.acks.mu.Lock()
	defer g.r.acks.mu.Unlock()
	for _, s := range g.r.acks.streams {
		if s.guard.id != id {
			continue
		}
		for _, names := range s.names {
			if names[marker] {
				return true
			}
		}
	}
	return false
}

func (g redRig) streamsOf(id string) int {
	g.r.acks.mu.Lock()
	defer g.r.acks.mu.Unlock()
	n := 0
	for _, s := range g.r.acks.streams {
		if s.guard.id == id {
			n++
		}
	}
	return n
}

// The attack: frontend, admitted, then sends requests that would make the
// server keep whatever it names for the stream's life: a type URL of its
// own (which also became a metric label: a new series per request), a few
// hundred thousand names, a name of a megabyte, a node of a megabyte, and
// delta subscriptions that add up or claim versions without end. Before
// the fix every one of them was kept; each must end the stream instead.
func TestRedteamXDSOversizedRequestsEndTheStream(t *testing.T) {
	front := identity.SPIFFE("shop", "frontend")
	node := &corev3.Node{Id: front}
	big, _ := structpb.NewStruct(map[string]any{"pad": strings.Repeat("x", 1<<20)})
	sotw := map[string][]*discoveryv3.DiscoveryRequest{
		"a type of its own": {{TypeUrl: "type.googleapis.com/redteam.Evil", ResponseNonce: "1", ResourceNames: []string{marker}}},
		"200,000 names":     {{TypeUrl: resource.EndpointType, ResourceNames: manyNames(200_000)}},
		"a 1 MiB name":      {{TypeUrl: resource.EndpointType, ResourceNames: []string{strings.Repeat("n", 1<<20), marker}}},
		"a 1 MiB node":      {{Node: &corev3.Node{Id: front, Metadata: big}, TypeUrl: resource.EndpointType, ResourceNames: []string{marker}}},
	}
	delta := map[string][]*discoveryv3.DeltaDiscoveryRequest{
		"subscriptions adding up": {
			{TypeUrl: resource.EndpointType, ResourceNamesSubscribe: manyNames(3000)[:3000]},
			{TypeUrl: resource.ListenerType, ResourceNamesSubscribe: manyNames(3000)[:3000]},
			{TypeUrl: resource.EndpointType, ResourceNamesSubscribe: manyNames(6000)[3000:]},
		},
		"150,000 claimed versions": {{TypeUrl: resource.EndpointType, ResourceNamesSubscribe: []string{marker},
			InitialResourceVersions: claimed(150_000)}},
	}
	g := startRed(t, Config{})
	for name, reqs := range sotw {
		s := g.stream(t, "frontend")
		if err := s.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, ResourceNames: ordersNames}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
		for _, req := range reqs {
			_ = s.Send(req)
		}
		g.assertEnded(t, name, front, func() error { _, err := s.Recv(); return err })
	}
	for name, reqs := range delta {
		s := deltaStream(t, g.r.Addr.String(), g.creds(t, "frontend"))
		if err := s.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, ResourceNamesSubscribe: ordersNames}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
		for _, req := range reqs {
			_ = s.Send(req)
		}
		g.assertEnded(t, name, front, func() error {
			for {
				if _, err := s.Recv(); err != nil {
					return err
				}
			}
		})
	}
	assertNoLabel(t, g.r, "redteam")
}

func claimed(n int) map[string]string {
	out := make(map[string]string, n)
	for i := range n {
		out[fmt.Sprintf("name-%07d", i)] = "1"
	}
	return out
}

// assertEnded waits until the server either took the attack or ended the
// stream, and wants the latter.
func (g redRig) assertEnded(t *testing.T, name, id string, recv func() error) {
	t.Helper()
	waitFor(t, func() bool { return g.kept(id) || g.streamsOf(id) == 0 })
	if g.kept(id) {
		t.Fatalf("%s: the server kept it", name)
	}
	if err := recv(); err == nil || !strings.Contains(err.Error(), "limit") && !strings.Contains(err.Error(), "not served") {
		t.Fatalf("%s: the stream ended with %v, want the limit named", name, err)
	}
}

// assertNoLabel wants no metric series with a label value containing s.
func assertNoLabel(t *testing.T, r *Running, s string) {
	t.Helper()
	mfs, err := r.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), s) {
					t.Errorf("metric %s has a label %s=%q from a client", mf.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// logSize is a log sink that only counts.
type logSize struct {
	mu sync.Mutex
	n  int
}

func (l *logSize) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n += len(p)
	return len(p), nil
}

func (l *logSize) bytes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// The attack: fill the server's log (and the disk under it) with what
// the client sends: a node id of a megabyte on a refused stream, and the
// same NACK, with an error message of a megabyte, again and again. Before
// the fix each was logged whole.
func TestRedteamXDSNothingHugeIsLogged(t *testing.T) {
	var log logSize
	g := startRedLogged(t, Config{}, zerolog.New(&log))
	huge := strings.Repeat("x", 1<<20)

	s := g.stream(t, "frontend")
	_ = s.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: identity.SPIFFE("shop", "orders") + huge}, TypeUrl: resource.EndpointType})
	if _, err := s.Recv(); err == nil {
		t.Fatal("a node id of another identity was served")
	}

	s = g.stream(t, "frontend")
	node := &corev3.Node{Id: identity.SPIFFE("shop", "frontend")}
	if err := s.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, ResourceNames: ordersNames}); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	nacks := g.r.metrics.acks.WithLabelValues(resource.EndpointType, "nack")
	for range 4 {
		_ = s.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, ResourceNames: ordersNames,
			ResponseNonce: resp.GetNonce(), ErrorDetail: &status.Status{Message: huge}})
	}
	waitFor(t, func() bool { return testutil.ToFloat64(nacks) == 4 })
	if n := log.bytes(); n > 64<<10 {
		t.Fatalf("the log grew by %d bytes", n)
	}
}
