package envoy

import (
	"encoding/json"
	"strings"
	"testing"
)

const goodTemplate = `
filter:
  vmID: meshward
  file: /etc/meshward/meshward-filter.wasm
  inbound:
    fail_mode: closed
    timeout_ms: 1000
  outbound:
    eaas: {enabled: true, direction: outbound, max_body_bytes: 2097152}
authorizer:
  identity: spiffe://cluster.local/ns/meshward-system/sa/meshward-authz
  grpc: ["127.0.0.2:9191"]
  http: ["127.0.0.2:9192"]
  timeout: 250ms
tls:
  certFile: /etc/certs/cert-chain.pem
  keyFile: /etc/certs/key.pem
  caFile: /etc/certs/root-cert.pem
drainAfter: 3s
`

func TestTemplateMakesEachSidecarsPluginConfig(t *testing.T) {
	tpl, err := ParseTemplate("sidecars.yaml", []byte(goodTemplate))
	if err != nil {
		t.Fatal(err)
	}
	if tpl.DrainAfter.String() != "3s" || tpl.Authz.Timeout.String() != "250ms" || tpl.Authz.HTTP[0] != (Socket{"127.0.0.2", 9192}) {
		t.Fatalf("template decoded as %+v", tpl)
	}
	raw, err := tpl.PluginConfig(spiffe("orders"), map[string]string{"app": "orders"}, true)
	if err != nil {
		t.Fatal(err)
	}
	var in map[string]any
	if err := json.Unmarshal([]byte(raw), &in); err != nil {
		t.Fatal(err)
	}
	if in["destination"] != spiffe("orders") || in["authorizer_cluster"] != AuthzHTTPCluster || in["fail_mode"] != "closed" ||
		in["destination_labels"].(map[string]any)["app"] != "orders" {
		t.Errorf("inbound plugin config %s", raw)
	}
	out, err := tpl.PluginConfig(spiffe("orders"), nil, false)
	if err != nil || !strings.Contains(out, `"direction":"outbound"`) || strings.Contains(out, "destination") {
		t.Errorf("outbound plugin config %s, %v", out, err)
	}
	// The built sidecar carries the sizes the outbound EaaS body needs.
	s := sidecar("orders-1", "orders", "127.0.0.20")
	s.Filter, s.Authz, s.TLS, s.BufferLimitBytes = tpl.Filter, tpl.Authz, tpl.TLS, tpl.BufferLimitBytes
	s.Filter.Inbound, s.Filter.Outbound = raw, out
	if got := limitsOf(mustBuild(t, s))[OutboundListenerName(s.Outbound)]; got != 2<<20+bufferSlack {
		t.Errorf("outbound listener buffer %d", got)
	}
}

// A template the operator got wrong is refused at load, saying where.
func TestTemplateErrorsSayWhere(t *testing.T) {
	tests := []struct{ name, from, to, want string }{
		{"misspelt key", "drainAfter: 3s", "drainAfter: 3s\ndrainafter: 1s", "line 20: field drainafter not found"},
		{"socket without port", `http: ["127.0.0.2:9192"]`, `http: ["127.0.0.2"]`, `authorizer.http[0]: "127.0.0.2": want address:port`},
		{"port zero", `http: ["127.0.0.2:9192"]`, `http: ["127.0.0.2:0"]`, `authorizer.http[0]: "127.0.0.2:0": port 1-65535`},
		{"authorizer not spiffe", "identity: spiffe://cluster.local/ns/meshward-system/sa/meshward-authz", "identity: https://evil/", "authorizer.identity:"},
		{"inbound not a mapping", "  inbound:\n    fail_mode: closed\n    timeout_ms: 1000\n", "  inbound: [closed]\n", "line 5: filter.inbound: want a mapping"},
		{"no inbound filter", "  inbound:\n    fail_mode: closed\n    timeout_ms: 1000\n", "", "filter.inbound: missing"},
		{"wrong authorizer cluster", "fail_mode: closed", "fail_mode: closed\n    authorizer_cluster: elsewhere", `Filter.Inbound: "authorizer_cluster" is "elsewhere"`},
		{"outbound without EaaS", "eaas: {enabled: true, direction: outbound, max_body_bytes: 2097152}", "timeout_ms: 5", "Filter.Outbound: an outbound filter needs"},
		{"buffer below the EaaS body", "drainAfter: 3s", "drainAfter: 3s\nbufferLimitBytes: 65536", "BufferLimitBytes: 65536 is below"},
		{"relative wasm path", "file: /etc/meshward/meshward-filter.wasm", "file: meshward-filter.wasm", "Filter.Code.File"},
		{"not YAML", "vmID: meshward", "vmID: [meshward", "sidecars.yaml: yaml:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(goodTemplate, tt.from) {
				t.Fatalf("the edit's anchor %q is not in the template", tt.from)
			}
			_, err := ParseTemplate("sidecars.yaml", []byte(strings.Replace(goodTemplate, tt.from, tt.to, 1)))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "sidecars.yaml: ") {
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func FuzzParseTemplate(f *testing.F) {
	f.Add([]byte(goodTemplate))
	f.Add([]byte("filter: {inbound: {a: &x [*x, *x]}}"))
	f.Add([]byte("authorizer: {grpc: [':']}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tpl, err := ParseTemplate("f.yaml", data)
		if err != nil {
			return
		}
		// Whatever loads makes a sidecar that builds, for any identity.
		s := tpl.probe()
		if _, err := Build(s); err != nil {
			t.Fatalf("a loaded template does not build: %v", err)
		}
	})
}
