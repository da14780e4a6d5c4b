package envoy

import (
	"strings"
	"testing"
)

// FuzzBuild feeds hostile strings into the fields that reach resource names
// and the plugin configuration: Build must never panic, and whatever it
// accepts must validate all the way down and route no wildcard.
func FuzzBuild(f *testing.F) {
	f.Add("orders-1", "orders", "127.0.0.20", uint32(41000), "payments.shop", `{"authorizer_cluster":"meshward-authz"}`)
	f.Add("n", "a.b", "::1", uint32(1), "x", `{"authorizer_cluster":"meshward-authz","eaas":{"direction":"inbound"}}`)
	f.Add("n|x", "a|b", "127.0.0.256", uint32(0), "*", `{"authorizer_cluster":1}`)
	f.Add("n", "orders", "fe80::1%eth0", uint32(65536), "a..b", `null`)
	f.Fuzz(func(t *testing.T, node, service, addr string, port uint32, host, plugin string) {
		s := mesh()["orders"]
		s.Node, s.Service, s.Filter.Inbound = node, service, plugin
		s.Inbound = []Socket{{addr, port}}
		s.Calls[0].Hosts = []string{host}
		r, err := Build(s)
		if err != nil {
			return
		}
		for _, typ := range ResourceTypes() {
			for _, it := range r[typ] {
				validateDeep(t, typ, it)
			}
		}
		for _, vh := range outboundRoute(t, r).VirtualHosts {
			for _, d := range vh.Domains {
				if strings.Contains(d, "*") {
					t.Fatalf("accepted wildcard domain %q", d)
				}
			}
		}
		if _, err := r.Snapshot(versions(t, r)); err != nil {
			t.Fatal(err)
		}
	})
}
