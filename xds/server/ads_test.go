package server

import (
	"context"
	"crypto/tls"
	"slices"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meshward/meshward/internal/identity"
)

const threeServices = twoServices + `  - name: users
    endpoints: [{address: 127.0.0.1, port: 1002}]
`

// ads opens an ADS stream; the deadline only bounds a broken server.
func ads(t *testing.T, addr string, creds credentials.TransportCredentials) (discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient, error) {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return discoveryv3.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(ctx)
}

// listeners asks for listeners by name (acking prev) and returns the names
// in the answer.
func listeners(s discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient, prev *discoveryv3.DiscoveryResponse, names ...string) (*discoveryv3.DiscoveryResponse, []string, error) {
	req := &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: identity.SPIFFE("shop", "frontend")}, TypeUrl: resource.ListenerType, ResourceNames: names}
	if prev != nil {
		req.VersionInfo, req.ResponseNonce = prev.GetVersionInfo(), prev.GetNonce()
	}
	if err := s.Send(req); err != nil {
		return nil, nil, err
	}
	resp, err := s.Recv()
	if err != nil {
		return nil, nil, err
	}
	var got []string
	for _, a := range resp.GetResources() {
		var l listenerv3.Listener
		if err := a.UnmarshalTo(&l); err != nil {
			return nil, nil, err
		}
		got = append(got, l.GetName())
	}
	slices.Sort(got)
	return resp, got, nil
}

// With several services in the catalog, a proxyless client asks for the
// listeners of the services it calls, not all of them; it gets exactly
// those, and the answer to a wider subscription holds every listener asked
// for (grpc-go takes one missing from a listener answer as deleted). Before
// the fix the server never answered a request that did not name every
// service.
func TestADSAnswersSubsetsWithCompleteSets(t *testing.T) {
	r := start(t, threeServices, Config{Admin: AdminAuth{Token: testToken}})
	s, err := ads(t, r.Addr.String(), insecure.NewCredentials())
	if err != nil {
		t.Fatal(err)
	}
	resp, got, err := listeners(s, nil, "orders")
	if err != nil || !slices.Equal(got, []string{"orders"}) {
		t.Fatalf("listeners for [orders]: %v %v", got, err)
	}
	_, got, err = listeners(s, resp, "orders", "payments")
	if err != nil || !slices.Equal(got, []string{"orders", "payments"}) {
		t.Fatalf("listeners for [orders payments]: %v %v, want both", got, err)
	}
}

// The ADS port with the mesh CA: no certificate, a plaintext client, and a
// certificate from another CA get no configuration; a mesh certificate does.
func TestADSMutualTLS(t *testing.T) {
	mesh, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	other, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := mesh.Issue(identity.SPIFFE("meshward-system", "meshward-xds"))
	good, _ := mesh.Issue(identity.SPIFFE("shop", "frontend"))
	forged, _ := other.Issue(identity.SPIFFE("shop", "frontend"))
	r := start(t, twoServices, Config{TLS: mesh.ServerTLS(srv), Admin: AdminAuth{Token: testToken}})
	for _, tc := range []struct {
		name  string
		creds credentials.TransportCredentials
		want  string
	}{
		{"plaintext", insecure.NewCredentials(), "Unavailable"},
		{"no certificate", credentials.NewTLS(&tls.Config{RootCAs: mesh.Pool, MinVersion: tls.VersionTLS13}), "certificate required"},
		{"another CA's certificate", credentials.NewTLS(&tls.Config{RootCAs: mesh.Pool, Certificates: []tls.Certificate{forged}, MinVersion: tls.VersionTLS13}), "unknown certificate authority"},
		{"a mesh certificate", credentials.NewTLS(mesh.ClientTLS(good)), ""},
	} {
		var got []string
		s, err := ads(t, r.Addr.String(), tc.creds)
		if err == nil {
			_, got, err = listeners(s, nil, "orders")
		}
		switch {
		case tc.want == "" && (err != nil || !slices.Equal(got, []string{"orders"})):
			t.Errorf("%s: %v %v, want the orders listener", tc.name, got, err)
		case tc.want != "" && (err == nil || len(got) != 0):
			// In TLS 1.3 the client may finish its side of the handshake
			// and write before the server's alert ("certificate required",
			// "unknown certificate authority") arrives, and then sees only a
			// broken pipe: what must hold is that nothing is served.
			t.Errorf("%s: %v %v, want a refusal (%s)", tc.name, got, err, tc.want)
		}
	}
}
