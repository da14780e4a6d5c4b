package filter

import (
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/meshward/meshward/api/check"
)

// Without a configured destination the check names the sidecar's own
// certificate (what the authorizer vouches against), and it carries the JWT
// principal Istio's authentication filter left in the dynamic metadata; a
// header of the same name carries nothing.
func TestCheckNamesTheLocalIdentityAndTheJWTPrincipal(t *testing.T) {
	const local = "spiffe://cluster.local/ns/shop/sa/orders"
	opt := proxytest.NewEmulatorOption().WithVMContext(&VM{}).
		WithPluginConfiguration([]byte(`{"authorizer_cluster":"meshward-authz"}`)).
		WithProperty([]string{"connection", "uri_san_peer_certificate"}, []byte("spiffe://cluster.local/ns/shop/sa/frontend")).
		WithProperty([]string{"connection", "uri_san_local_certificate"}, []byte(local)).
		WithProperty([]string{"metadata", "filter_metadata", "istio_authn", "request.auth.principal"}, []byte("https://issuer.example/alice"))
	host, reset := proxytest.NewHostEmulator(opt)
	defer reset()
	if st := host.StartPlugin(); st != types.OnPluginStartStatusOK {
		t.Fatalf("StartPlugin = %v", st)
	}
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, [][2]string{{":method", "GET"}, {":path", "/orders/1"}, {":authority", "evil.example"},
		{"request.auth.principal", "forged"}}, true)
	callouts := host.GetCalloutAttributesFromContext(id)
	if len(callouts) != 1 {
		t.Fatalf("%d callouts", len(callouts))
	}
	got, err := check.DecodeRequest(callouts[0].Body)
	if err != nil {
		t.Fatal(err)
	}
	if got.Destination != local || got.RequestPrincipal != "https://issuer.example/alice" {
		t.Fatalf("destination %q, request principal %q", got.Destination, got.RequestPrincipal)
	}
}
