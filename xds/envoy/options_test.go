package envoy

import (
	"strings"
	"testing"

	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// With SDS the keys stay with the node agent: no file and no key material
// appears in what the xDS server sends, and peers are still matched by SAN.
func TestSDS(t *testing.T) {
	s := mesh()["frontend"]
	s.TLS = TLS{SDS: &SDS{Cluster: "sds-grpc", Cert: "default", CA: "ROOTCA"}}
	r := mustBuild(t, s)
	for _, typ := range ResourceTypes() {
		for _, it := range r[typ] {
			validateDeep(t, typ, it)
		}
	}
	if d := dump(t, r); strings.Contains(d, "/etc/certs") {
		t.Error("SDS resources name certificate files")
	}
	c := upstreamTLS(t, clusterNamed(t, r, "outbound|8080||orders")).CommonTlsContext
	if sds := c.TlsCertificateSdsSecretConfigs; len(sds) != 1 || sds[0].Name != "default" ||
		sds[0].SdsConfig.GetApiConfigSource().GetGrpcServices()[0].GetEnvoyGrpc().GetClusterName() != "sds-grpc" {
		t.Errorf("certificate SDS %v", sds)
	}
	cv := c.GetCombinedValidationContext()
	if cv.GetValidationContextSdsSecretConfig().GetName() != "ROOTCA" ||
		cv.GetDefaultValidationContext().GetMatchTypedSubjectAltNames()[0].Matcher.GetExact() != spiffe("orders") {
		t.Errorf("validation %v", cv)
	}
	for _, l := range listeners(r) {
		if l.TrafficDirection.String() != "INBOUND" {
			continue
		}
		d := unpack(t, l.FilterChains[0].TransportSocket.GetTypedConfig(), &tlsv3.DownstreamTlsContext{})
		if !d.GetRequireClientCertificate().GetValue() || d.CommonTlsContext.GetCombinedValidationContext() == nil {
			t.Errorf("%s: client certificates not required from the SDS CA", l.Name)
		}
	}
}

func TestRemoteCode(t *testing.T) {
	s := mesh()["orders"]
	digest := strings.Repeat("0f", 32)
	s.Filter.Code = WasmCode{Remote: &RemoteCode{URI: "http://wasm.meshward/filter.wasm", SHA256: digest, Server: Socket{"127.0.0.4", 8000}}}
	r := mustBuild(t, s)
	if c := clusterNamed(t, r, WasmCodeCluster); c.LoadAssignment.Endpoints[0].LbEndpoints[0].GetEndpoint().Address.GetSocketAddress().GetPortValue() != 8000 {
		t.Errorf("code cluster %v", c.LoadAssignment)
	}
	l := listeners(r)[0]
	code := unpack(t, hcmOf(t, l).HttpFilters[0].GetTypedConfig(), &wasmfilterv3.Wasm{}).Config.GetVmConfig().Code.GetRemote()
	if code.Sha256 != digest || code.HttpUri.GetCluster() != WasmCodeCluster {
		t.Errorf("remote code %v", code)
	}
}

// The EaaS coordinator on a port of its own gets a cluster the filter's
// configuration may name.
func TestEaaSCluster(t *testing.T) {
	s := mesh()["orders"]
	s.Authz.EaaS = []Socket{{"127.0.0.2", 9193}}
	s.Filter.Inbound = `{"authorizer_cluster":"meshward-authz","eaas":{"enabled":true,"cluster":"meshward-eaas"}}`
	clusterNamed(t, mustBuild(t, s), EaaSCluster)
}

func TestSnapshot(t *testing.T) {
	r := mustBuild(t, mesh()["frontend"])
	v := versions(t, r)
	snap, err := r.Snapshot(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range ResourceTypes() {
		if got := snap.GetVersion(typ); got != v[typ] {
			t.Errorf("%s: version %q, want %q", typ, got, v[typ])
		}
		if got, want := len(snap.GetResources(typ)), len(r[typ]); got != want {
			t.Errorf("%s: %d resources, want %d", typ, got, want)
		}
	}
	delete(v, resource.RouteType)
	if _, err := r.Snapshot(v); err == nil || !strings.Contains(err.Error(), resource.RouteType) {
		t.Errorf("no route version: %v", err)
	}
	// An EDS cluster without its endpoints is what Consistent refuses.
	v = versions(t, r)
	r[resource.EndpointType] = nil
	if _, err := r.Snapshot(v); err == nil {
		t.Error("a snapshot missing a cluster's endpoints is consistent")
	}
}
