package envoy

import (
	"slices"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func filterNames(h *hcmv3.HttpConnectionManager) []string {
	var out []string
	for _, f := range h.HttpFilters {
		out = append(out, f.Name)
	}
	return out
}

// checkInbound asserts what stops a caller on an inbound listener: mesh
// mTLS, the filter and ext_authz before the router, both failing closed,
// the caller's forged client-certificate header replaced, paths normalized.
func checkInbound(t *testing.T, s Sidecar, l *listenerv3.Listener) {
	t.Helper()
	tlsCtx := unpack(t, l.FilterChains[0].TransportSocket.GetTypedConfig(), &tlsv3.DownstreamTlsContext{})
	if !tlsCtx.GetRequireClientCertificate().GetValue() {
		t.Errorf("%s: a caller without a certificate is accepted", l.Name)
	}
	vc := tlsCtx.CommonTlsContext.GetValidationContext()
	if vc.GetTrustedCa().GetFilename() != s.TLS.CAFile {
		t.Errorf("%s: client certificates not checked against the mesh CA", l.Name)
	}
	if sans := vc.GetMatchTypedSubjectAltNames(); len(sans) != 1 || sans[0].Matcher.GetPrefix() != "spiffe://cluster.local/" ||
		sans[0].SanType != tlsv3.SubjectAltNameMatcher_URI {
		t.Errorf("%s: client SAN matchers %v, want URI prefix spiffe://cluster.local/", l.Name, sans)
	}
	h := hcmOf(t, l)
	if got, want := filterNames(h), []string{WasmFilterName, ExtAuthzName, RouterName}; !slices.Equal(got, want) {
		t.Fatalf("%s: http filters %v, want %v", l.Name, got, want)
	}
	w := unpack(t, h.HttpFilters[0].GetTypedConfig(), &wasmfilterv3.Wasm{}).Config
	if w.FailurePolicy != wasmv3.FailurePolicy_FAIL_CLOSED || w.FailOpen {
		t.Errorf("%s: the Wasm filter fails open", l.Name)
	}
	if cfg := unpack(t, w.Configuration, &wrapperspb.StringValue{}).Value; cfg != s.Filter.Inbound {
		t.Errorf("%s: plugin configuration %q, want %q", l.Name, cfg, s.Filter.Inbound)
	}
	if vm := w.GetVmConfig(); vm.VmId != s.Filter.VMID || vm.Code.GetLocal().GetFilename() != s.Filter.Code.File {
		t.Errorf("%s: vm %v", l.Name, vm)
	}
	ea := unpack(t, h.HttpFilters[1].GetTypedConfig(), &extauthzv3.ExtAuthz{})
	if ea.FailureModeAllow || !ea.IncludePeerCertificate || ea.TransportApiVersion.String() != "V3" ||
		ea.GetGrpcService().GetEnvoyGrpc().GetClusterName() != AuthzGRPCCluster {
		t.Errorf("%s: ext_authz %v", l.Name, ea)
	}
	if h.ForwardClientCertDetails != hcmv3.HttpConnectionManager_SANITIZE_SET || !h.GetSetCurrentClientCertDetails().GetUri() {
		t.Errorf("%s: x-forwarded-client-cert %v: a caller's forged header would reach the app", l.Name, h.ForwardClientCertDetails)
	}
	if !h.GetNormalizePath().GetValue() || !h.MergeSlashes ||
		h.PathWithEscapedSlashesAction != hcmv3.HttpConnectionManager_REJECT_REQUEST {
		t.Errorf("%s: paths not normalized as MERGE_SLASHES: //admin would pass a rule on /admin", l.Name)
	}
	vhs := h.GetRouteConfig().GetVirtualHosts()
	if len(vhs) != 1 || len(vhs[0].Routes) != 1 || vhs[0].Routes[0].GetRoute().GetCluster() != InboundClusterName(s.Service, s.App) {
		t.Errorf("%s: routes %v, want everything to the application", l.Name, vhs)
	}
}

func TestInboundListenersEnforce(t *testing.T) {
	for name, s := range mesh() {
		t.Run(name, func(t *testing.T) {
			r := mustBuild(t, s)
			n := 0
			for _, l := range listeners(r) {
				if l.TrafficDirection.String() == "INBOUND" {
					checkInbound(t, s, l)
					n++
				}
			}
			if want := len(s.Inbound) + len(s.Draining); n != want {
				t.Errorf("%d inbound listeners, want %d", n, want)
			}
		})
	}
}

// A workload that takes over a peer's old address after a rotation, or the
// authorizer's, holds a mesh certificate but not the peer's: every upstream
// TLS context accepts only the one identity it is for.
func TestUpstreamsRequireTheirIdentity(t *testing.T) {
	s := mesh()["frontend"]
	s.Authz.EaaS = []Socket{{"127.0.0.3", 9193}}
	r := mustBuild(t, s)
	tests := []struct {
		cluster, identity string
		alpn              []string
	}{
		{"outbound|8080||orders", spiffe("orders"), nil},
		{AuthzGRPCCluster, authzID, []string{"h2"}},
		{AuthzHTTPCluster, authzID, nil},
		{EaaSCluster, authzID, nil},
	}
	for _, tc := range tests {
		c := upstreamTLS(t, clusterNamed(t, r, tc.cluster)).CommonTlsContext
		sans := c.GetValidationContext().GetMatchTypedSubjectAltNames()
		if len(sans) != 1 || sans[0].SanType != tlsv3.SubjectAltNameMatcher_URI || sans[0].Matcher.GetExact() != tc.identity {
			t.Errorf("%s: SAN matchers %v, want exactly %s", tc.cluster, sans, tc.identity)
		}
		if c.GetValidationContext().GetTrustedCa().GetFilename() != s.TLS.CAFile || len(c.TlsCertificates) != 1 {
			t.Errorf("%s: not mutual TLS with the mesh certificate", tc.cluster)
		}
		if !slices.Equal(c.AlpnProtocols, tc.alpn) {
			t.Errorf("%s: ALPN %v, want %v", tc.cluster, c.AlpnProtocols, tc.alpn)
		}
	}
	if app := clusterNamed(t, r, "inbound|8080||frontend"); app.TransportSocket != nil {
		t.Errorf("the local application's cluster speaks TLS")
	}
}

// The outbound listener carries the application's calls out under this
// workload's identity: it is on loopback, runs the outbound filter and
// routes by RDS.
func TestOutboundListener(t *testing.T) {
	s := mesh()["frontend"]
	var out *listenerv3.Listener
	for _, l := range listeners(mustBuild(t, s)) {
		if l.Name == OutboundListenerName(s.Outbound) {
			out = l
		}
	}
	if out == nil {
		t.Fatal("no outbound listener")
	}
	h := hcmOf(t, out)
	if got, want := filterNames(h), []string{WasmFilterName, RouterName}; !slices.Equal(got, want) {
		t.Errorf("http filters %v, want %v", got, want)
	}
	cfg := unpack(t, unpack(t, h.HttpFilters[0].GetTypedConfig(), &wasmfilterv3.Wasm{}).Config.Configuration, &wrapperspb.StringValue{})
	if cfg.Value != s.Filter.Outbound {
		t.Errorf("outbound plugin configuration %q", cfg.Value)
	}
	if h.GetRds().GetRouteConfigName() != OutboundRouteName || h.GetRds().GetConfigSource().GetAds() == nil {
		t.Errorf("outbound routes not from ADS: %v", h.RouteSpecifier)
	}

	s.Filter.Outbound = ""
	for _, l := range listeners(mustBuild(t, s)) {
		if l.Name == OutboundListenerName(s.Outbound) {
			if got := filterNames(hcmOf(t, l)); !slices.Equal(got, []string{RouterName}) {
				t.Errorf("without an outbound configuration: http filters %v", got)
			}
		}
	}
}
