package envoy

import (
	"strings"
	"testing"
)

func TestBadInputNamesTheField(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *Sidecar)
		want   []string // substrings of the error
	}{
		{"empty node", func(s *Sidecar) { s.Node = "" }, []string{"Node"}},
		{"node with space", func(s *Sidecar) { s.Node = "a b" }, []string{"Node", `"a b"`}},
		{"identity not spiffe", func(s *Sidecar) { s.Identity = "orders" }, []string{"Identity", "SPIFFE"}},
		{"identity with query", func(s *Sidecar) { s.Identity = spiffe("orders") + "?x=1" }, []string{"Identity"}},
		{"empty service", func(s *Sidecar) { s.Service = "" }, []string{"Service"}},
		{"service with bar", func(s *Sidecar) { s.Service = "orders|9" }, []string{"Service", `"orders|9"`}},
		{"service upper case", func(s *Sidecar) { s.Service = "Orders" }, []string{"Service"}},
		{"no inbound", func(s *Sidecar) { s.Inbound = nil }, []string{"Inbound", "no socket"}},
		{"inbound port 0", func(s *Sidecar) { s.Inbound[0].Port = 0 }, []string{"Inbound[0]", "port 0"}},
		{"inbound port too big", func(s *Sidecar) { s.Inbound[0].Port = 65536 }, []string{"Inbound[0]", "65536"}},
		{"inbound invalid IP", func(s *Sidecar) { s.Inbound[0].Address = "127.0.0.256" }, []string{"Inbound[0]", "not an IP"}},
		{"inbound hostname", func(s *Sidecar) { s.Inbound[0].Address = "localhost" }, []string{"Inbound[0]", "not an IP"}},
		{"inbound multicast", func(s *Sidecar) { s.Inbound[0].Address = "224.0.0.1" }, []string{"Inbound[0]", "multicast"}},
		{"duplicate inbound", func(s *Sidecar) { s.Inbound = append(s.Inbound, s.Inbound[0]) }, []string{"Inbound[1]", "Inbound[0]"}},
		{"draining is inbound", func(s *Sidecar) { s.Draining = []Socket{s.Inbound[0]} }, []string{"Draining[0]", "Inbound[0]"}},
		{"wildcard clashes", func(s *Sidecar) { s.Draining = []Socket{{"0.0.0.0", s.Inbound[0].Port}} }, []string{"Draining[0]", "clashes"}},
		{"outbound is inbound", func(s *Sidecar) { s.Outbound = s.Inbound[0] }, []string{"Outbound", "Inbound[0]"}},
		{"app is inbound", func(s *Sidecar) { s.App = s.Inbound[0] }, []string{"App", "Inbound[0]"}},
		{"app unspecified", func(s *Sidecar) { s.App.Address = "0.0.0.0" }, []string{"App", "unspecified"}},
		{"too many sockets", func(s *Sidecar) {
			for i := range MaxListenSockets {
				s.Draining = append(s.Draining, Socket{"127.0.1.1", uint32(20000 + i)})
			}
		}, []string{"Inbound", "at most 16"}},
		{"drain negative", func(s *Sidecar) { s.DrainAfter = -1 }, []string{"DrainAfter"}},
		{"peer without identity", func(s *Sidecar) { s.Calls[0].Identity = "" }, []string{"Calls[0] (payments).Identity"}},
		{"peer without service", func(s *Sidecar) { s.Calls[0].Service = "" }, []string{"Calls[0].Service"}},
		{"peer service bad name", func(s *Sidecar) { s.Calls[0].Service = "pay ments" }, []string{"Calls[0].Service"}},
		{"peer twice", func(s *Sidecar) { s.Calls = append(s.Calls, s.Calls[0]) }, []string{"Calls[1].Service", "Calls[0]"}},
		{"peer port 0", func(s *Sidecar) { s.Calls[0].Port = 0 }, []string{"Calls[0] (payments).Port"}},
		{"peer wildcard host", func(s *Sidecar) { s.Calls[0].Hosts = []string{"*"} }, []string{"Calls[0] (payments).Hosts[0]", "wildcard"}},
		{"peer suffix wildcard", func(s *Sidecar) { s.Calls[0].Hosts = []string{"*.svc.cluster.local"} }, []string{"Hosts[0]"}},
		{"peer host with port", func(s *Sidecar) { s.Calls[0].Hosts = []string{"payments:8080"} }, []string{"Hosts[0]"}},
		{"host of two peers", func(s *Sidecar) {
			p := peer("billing", 8080)
			p.Hosts = []string{"billing", "payments"}
			s.Calls = append(s.Calls, p)
		}, []string{"Calls[1] (billing).Hosts[1]", "payments"}},
		{"peer endpoint bad IP", func(s *Sidecar) { s.Calls[0].Endpoints[0].Address = "1.2.3" }, []string{"Calls[0] (payments).Endpoints[0]", "not an IP"}},
		{"peer endpoint twice", func(s *Sidecar) { s.Calls[0].Endpoints = append(s.Calls[0].Endpoints, s.Calls[0].Endpoints[0]) },
			[]string{"Endpoints[1]", "Endpoints[0]"}},
		{"vm id", func(s *Sidecar) { s.Filter.VMID = "a/b" }, []string{"Filter.VMID"}},
		{"root id", func(s *Sidecar) { s.Filter.RootID = "x y" }, []string{"Filter.RootID"}},
		{"no code", func(s *Sidecar) { s.Filter.Code = WasmCode{} }, []string{"Filter.Code.File"}},
		{"relative code", func(s *Sidecar) { s.Filter.Code.File = "filter.wasm" }, []string{"Filter.Code.File", "absolute"}},
		{"two codes", func(s *Sidecar) { s.Filter.Code.Remote = &RemoteCode{} }, []string{"Filter.Code", "both"}},
		{"remote https", func(s *Sidecar) {
			s.Filter.Code = WasmCode{Remote: &RemoteCode{URI: "https://x/f.wasm", SHA256: strings.Repeat("a", 64), Server: Socket{"127.0.0.4", 80}}}
		}, []string{"Filter.Code.Remote.URI"}},
		{"remote no digest", func(s *Sidecar) {
			s.Filter.Code = WasmCode{Remote: &RemoteCode{URI: "http://x/f.wasm", SHA256: "abc", Server: Socket{"127.0.0.4", 80}}}
		}, []string{"Filter.Code.Remote.SHA256"}},
		{"remote no server", func(s *Sidecar) {
			s.Filter.Code = WasmCode{Remote: &RemoteCode{URI: "http://x/f.wasm", SHA256: strings.Repeat("a", 64)}}
		}, []string{"Filter.Code.Remote.Server"}},
		{"no inbound config", func(s *Sidecar) { s.Filter.Inbound = "" }, []string{"Filter.Inbound", "JSON"}},
		{"config not JSON", func(s *Sidecar) { s.Filter.Inbound = "authorizer_cluster: x" }, []string{"Filter.Inbound", "JSON"}},
		{"config array", func(s *Sidecar) { s.Filter.Inbound = `["meshward-authz"]` }, []string{"Filter.Inbound", "JSON"}},
		{"config trailing", func(s *Sidecar) { s.Filter.Inbound = `{"authorizer_cluster":"meshward-authz"} {}` }, []string{"Filter.Inbound", "trailing"}},
		{"config too large", func(s *Sidecar) { s.Filter.Inbound = strings.Repeat(" ", MaxPluginConfigBytes+1) }, []string{"Filter.Inbound", "bytes"}},
		{"config other cluster", func(s *Sidecar) {
			s.Filter.Inbound = `{"authorizer_cluster":"outbound|8181||meshward-authz.meshward-system.svc.cluster.local"}`
		}, []string{"Filter.Inbound", "authorizer_cluster", AuthzHTTPCluster}},
		{"config other destination", func(s *Sidecar) {
			s.Filter.Inbound = `{"authorizer_cluster":"meshward-authz","destination":"` + spiffe("payments") + `"}`
		}, []string{"Filter.Inbound", "destination"}},
		{"config eaas cluster missing", func(s *Sidecar) {
			s.Filter.Inbound = `{"authorizer_cluster":"meshward-authz","eaas":{"enabled":true,"cluster":"meshward-eaas"}}`
		}, []string{"Filter.Inbound", "eaas.cluster"}},
		{"inbound config outbound", func(s *Sidecar) { s.Filter.Inbound = s.Filter.Outbound }, []string{"Filter.Inbound", "eaas.direction"}},
		{"outbound config inbound", func(s *Sidecar) { s.Filter.Outbound = s.Filter.Inbound }, []string{"Filter.Outbound", "outbound"}},
		{"authz identity", func(s *Sidecar) { s.Authz.Identity = "" }, []string{"Authz.Identity"}},
		{"authz no grpc", func(s *Sidecar) { s.Authz.GRPC = nil }, []string{"Authz.GRPC", "no endpoint"}},
		{"authz no http", func(s *Sidecar) { s.Authz.HTTP = nil }, []string{"Authz.HTTP", "no endpoint"}},
		{"authz bad eaas", func(s *Sidecar) { s.Authz.EaaS = []Socket{{"::", 9193}} }, []string{"Authz.EaaS[0]", "unspecified"}},
		{"authz timeout", func(s *Sidecar) { s.Authz.Timeout = 2 * 60e9 }, []string{"Authz.Timeout"}},
		{"tls nothing", func(s *Sidecar) { s.TLS = TLS{} }, []string{"TLS.CertFile"}},
		{"tls no key", func(s *Sidecar) { s.TLS.KeyFile = "" }, []string{"TLS.KeyFile"}},
		{"tls both", func(s *Sidecar) { s.TLS.SDS = &SDS{"sds-grpc", "default", "ROOTCA"} }, []string{"TLS", "both"}},
		{"sds no ca", func(s *Sidecar) { s.TLS = TLS{SDS: &SDS{"sds-grpc", "default", ""}} }, []string{"TLS.SDS.CA"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mesh()["orders"]
			tc.mutate(&s)
			r, err := Build(s)
			if err == nil {
				t.Fatalf("built %d listeners; want an error naming %v", len(r), tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), `sidecar "`+s.Node+`": `) {
				t.Errorf("error %q does not name the node", err)
			}
		})
	}
}

// A non-loopback outbound listener would let any workload that reaches it
// call the mesh with this sidecar's identity.
func TestOutboundMustBeLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0", "10.0.0.5", "::", "192.168.1.1"} {
		s := mesh()["frontend"]
		s.Outbound.Address = addr
		if _, err := Build(s); err == nil || !strings.Contains(err.Error(), "Outbound") || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("outbound at %s: %v", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1", "127.9.9.9", "::1"} {
		s := mesh()["frontend"]
		s.Outbound.Address = addr
		if _, err := Build(s); err != nil {
			t.Errorf("outbound at %s: %v", addr, err)
		}
	}
}

// Addresses that are valid but not loopback are fine where the sidecar
// listens or connects (a pod's own IP).
func TestNonLoopbackInboundAccepted(t *testing.T) {
	s := mesh()["orders"]
	s.Inbound = []Socket{{"0.0.0.0", 15006}, {"10.1.2.3", 15007}}
	s.App = Socket{"10.1.2.3", 8080}
	s.Calls[0].Endpoints = []Socket{{"10.1.2.4", 15006}, {"fd00::4", 15006}}
	mustBuild(t, s)
}
