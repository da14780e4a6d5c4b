package sidecar

import (
	"fmt"
	"net/netip"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const (
	outboundListenerPrefix = "outbound|"
	// maxPluginConfig bounds a plugin configuration (xds/envoy's bound).
	maxPluginConfig = 64 << 10
)

// filterSpec is the Wasm filter a listener runs: the module file, the VM
// and the plugin configuration. Two listeners with equal specs share one
// plugin instance, as Envoy shares a VM.
type filterSpec struct {
	code, vmID, rootID, config string
}

// outboundSpec is the outbound listener of an LDS response.
type outboundSpec struct {
	addr   netip.AddrPort
	routes string      // the RDS route configuration's name
	filter *filterSpec // nil: no Wasm filter
}

// outboundOf finds the outbound listener among an LDS response's listeners
// (at most one; none closes the outbound side).
func outboundOf(res []*anypb.Any) (*outboundSpec, error) {
	var out *outboundSpec
	for i, a := range res {
		l, err := listenerOf(a)
		if err != nil {
			return nil, fmt.Errorf("listener %d: %w", i, err)
		}
		if l.GetTrafficDirection() != corev3.TrafficDirection_OUTBOUND && !strings.HasPrefix(l.GetName(), outboundListenerPrefix) {
			continue
		}
		if out != nil {
			return nil, fmt.Errorf("listener %d %q: a second outbound listener", i, l.GetName())
		}
		if out, err = outboundListenerOf(l); err != nil {
			return nil, fmt.Errorf("listener %d %q: %w", i, l.GetName(), err)
		}
	}
	return out, nil
}

// outboundListenerOf reads the outbound listener. Its socket must be on
// loopback: whoever reaches it calls with this workload's identity.
func outboundListenerOf(l *listenerv3.Listener) (*outboundSpec, error) {
	ap, err := tcpSocket(l.GetAddress().GetSocketAddress())
	if err != nil {
		return nil, err
	}
	if !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("socket %s is not on loopback", ap)
	}
	if want := outboundListenerPrefix + ap.String(); l.GetName() != want {
		return nil, fmt.Errorf("name does not match its socket %s", ap)
	}
	if n := len(l.GetFilterChains()); n != 1 || l.GetFilterChains()[0].GetTransportSocket() != nil {
		return nil, fmt.Errorf("%d filter chains: want one, in plain text", n)
	}
	hcm, err := hcmOf(l)
	if err != nil {
		return nil, err
	}
	s := &outboundSpec{addr: ap, routes: hcm.GetRds().GetRouteConfigName()}
	if s.routes == "" {
		return nil, fmt.Errorf("no RDS route configuration")
	}
	s.filter, err = wasmFilterOf(hcm)
	return s, err
}

// hcmOf is a listener's HTTP connection manager (its only network filter).
func hcmOf(l *listenerv3.Listener) (*hcmv3.HttpConnectionManager, error) {
	var hcm *hcmv3.HttpConnectionManager
	for _, fc := range l.GetFilterChains() {
		for _, f := range fc.GetFilters() {
			tc := f.GetTypedConfig()
			if tc == nil || !tc.MessageIs(&hcmv3.HttpConnectionManager{}) {
				continue
			}
			if hcm != nil {
				return nil, fmt.Errorf("filter %q: a second HTTP connection manager", f.GetName())
			}
			hcm = &hcmv3.HttpConnectionManager{}
			if err := tc.UnmarshalTo(hcm); err != nil {
				return nil, fmt.Errorf("filter %q: %w", f.GetName(), err)
			}
		}
	}
	if hcm == nil {
		return nil, fmt.Errorf("no HTTP connection manager")
	}
	return hcm, nil
}

// wasmFilterOf reads the connection manager's Wasm filter (at most one:
// the sidecar runs one filter per side).
func wasmFilterOf(hcm *hcmv3.HttpConnectionManager) (*filterSpec, error) {
	var out *filterSpec
	for i, f := range hcm.GetHttpFilters() {
		tc := f.GetTypedConfig()
		if tc == nil || !tc.MessageIs(&wasmfilterv3.Wasm{}) {
			continue
		}
		if out != nil {
			return nil, fmt.Errorf("http filter %d %q: a second Wasm filter", i, f.GetName())
		}
		var w wasmfilterv3.Wasm
		if err := tc.UnmarshalTo(&w); err != nil {
			return nil, fmt.Errorf("http filter %d %q: %w", i, f.GetName(), err)
		}
		s, err := wasmSpecOf(&w)
		if err != nil {
			return nil, fmt.Errorf("http filter %d %q: %w", i, f.GetName(), err)
		}
		out = s
	}
	return out, nil
}

func wasmSpecOf(w *wasmfilterv3.Wasm) (*filterSpec, error) {
	pc := w.GetConfig()
	vm := pc.GetVmConfig()
	if vm == nil {
		return nil, fmt.Errorf("no vm_config")
	}
	code := vm.GetCode().GetLocal().GetFilename()
	if code == "" {
		return nil, fmt.Errorf("the module must be a local file (remote code is not implemented here)")
	}
	cfg, err := pluginText(pc.GetConfiguration())
	if err != nil {
		return nil, err
	}
	return &filterSpec{code: code, vmID: vm.GetVmId(), rootID: pc.GetRootId(), config: cfg}, nil
}

// pluginText is a plugin configuration: Envoy passes a StringValue's or
// BytesValue's content to the filter as it is.
func pluginText(a *anypb.Any) (string, error) {
	if a == nil {
		return "", nil
	}
	var text string
	switch {
	case a.MessageIs(&wrapperspb.StringValue{}):
		var s wrapperspb.StringValue
		if err := a.UnmarshalTo(&s); err != nil {
			return "", fmt.Errorf("configuration: %w", err)
		}
		text = s.GetValue()
	case a.MessageIs(&wrapperspb.BytesValue{}):
		var b wrapperspb.BytesValue
		if err := a.UnmarshalTo(&b); err != nil {
			return "", fmt.Errorf("configuration: %w", err)
		}
		text = string(b.GetValue())
	default:
		return "", fmt.Errorf("configuration of type %q: want a StringValue or BytesValue", a.GetTypeUrl())
	}
	if len(text) > maxPluginConfig {
		return "", fmt.Errorf("configuration of %d bytes, at most %d", len(text), maxPluginConfig)
	}
	return text, nil
}
