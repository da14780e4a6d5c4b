package sidecar

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// What the xDS server's listeners say (xds/envoy's names.go): the e2e
// sidecar reads them as Envoy would, without importing the server's code.
const (
	inboundListenerPrefix = "inbound|"
	metadataKey           = "meshward"
	stateDraining         = "draining"
	// maxListeners bounds one response: a sidecar has a few sockets.
	maxListeners = 256
)

// inboundSocket is one inbound listener of an LDS response.
type inboundSocket struct {
	addr     netip.AddrPort
	draining bool
	// drainAfter is how old a connection to a draining socket may grow
	// (its connection manager's max_connection_duration; 0: no bound).
	drainAfter time.Duration
}

// inboundSockets reads the inbound listeners of a state-of-the-world LDS
// response, by socket; other listeners (the outbound one) are left to the
// outbound side. Anything it cannot use is an error that names the
// resource: the whole response is then NACKed.
func inboundSockets(res []*anypb.Any) (map[netip.AddrPort]inboundSocket, error) {
	if len(res) > maxListeners {
		return nil, fmt.Errorf("%d listeners, at most %d", len(res), maxListeners)
	}
	out := map[netip.AddrPort]inboundSocket{}
	names := map[string]bool{}
	for i, a := range res {
		l, err := listenerOf(a)
		if err != nil {
			return nil, fmt.Errorf("listener %d: %w", i, err)
		}
		if names[l.GetName()] {
			return nil, fmt.Errorf("listener %d %q: named twice", i, l.GetName())
		}
		names[l.GetName()] = true
		if l.GetTrafficDirection() != corev3.TrafficDirection_INBOUND && !strings.HasPrefix(l.GetName(), inboundListenerPrefix) {
			continue
		}
		s, err := inboundOf(l)
		if err != nil {
			return nil, fmt.Errorf("listener %d %q: %w", i, l.GetName(), err)
		}
		if _, dup := out[s.addr]; dup {
			return nil, fmt.Errorf("listener %d %q: socket %s is another listener's", i, l.GetName(), s.addr)
		}
		out[s.addr] = s
	}
	return out, nil
}

func listenerOf(a *anypb.Any) (*listenerv3.Listener, error) {
	if a.GetTypeUrl() != resource.ListenerType {
		return nil, fmt.Errorf("type %q, want %s", a.GetTypeUrl(), resource.ListenerType)
	}
	var l listenerv3.Listener
	if err := a.UnmarshalTo(&l); err != nil {
		return nil, err
	}
	return &l, nil
}

// inboundOf reads an inbound listener's socket and state. Its name must
// be its socket's (inbound|addr:port): a listener's address never moves.
func inboundOf(l *listenerv3.Listener) (inboundSocket, error) {
	sa := l.GetAddress().GetSocketAddress()
	if sa == nil {
		return inboundSocket{}, fmt.Errorf("no socket address")
	}
	if sa.GetProtocol() != corev3.SocketAddress_TCP {
		return inboundSocket{}, fmt.Errorf("protocol %v, want TCP", sa.GetProtocol())
	}
	ip, err := netip.ParseAddr(sa.GetAddress())
	if err != nil || ip.Zone() != "" {
		return inboundSocket{}, fmt.Errorf("address %q is not an IP address", sa.GetAddress())
	}
	port := sa.GetPortValue()
	if port == 0 || port > 65535 {
		return inboundSocket{}, fmt.Errorf("port %d out of range 1-65535", port)
	}
	s := inboundSocket{addr: netip.AddrPortFrom(ip.Unmap(), uint16(port))}
	if want := inboundListenerPrefix + s.addr.String(); l.GetName() != want {
		return inboundSocket{}, fmt.Errorf("name does not match its socket %s", s.addr)
	}
	state := l.GetMetadata().GetFilterMetadata()[metadataKey].GetFields()["state"].GetStringValue()
	s.draining = state == stateDraining
	if s.draining {
		if s.drainAfter, err = maxConnectionDuration(l); err != nil {
			return inboundSocket{}, err
		}
	}
	return s, nil
}

// maxConnectionDuration is what the listener's HTTP connection manager
// allows a connection: how long a draining socket keeps one.
func maxConnectionDuration(l *listenerv3.Listener) (time.Duration, error) {
	for _, fc := range l.GetFilterChains() {
		for _, f := range fc.GetFilters() {
			tc := f.GetTypedConfig()
			if tc == nil || !tc.MessageIs(&hcmv3.HttpConnectionManager{}) {
				continue
			}
			var hcm hcmv3.HttpConnectionManager
			if err := tc.UnmarshalTo(&hcm); err != nil {
				return 0, fmt.Errorf("filter %q: %w", f.GetName(), err)
			}
			d := hcm.GetCommonHttpProtocolOptions().GetMaxConnectionDuration()
			if d == nil {
				return 0, nil
			}
			if err := d.CheckValid(); err != nil || d.AsDuration() < 0 {
				return 0, fmt.Errorf("filter %q: max_connection_duration %v is not a duration", f.GetName(), d)
			}
			return d.AsDuration(), nil
		}
	}
	return 0, nil
}
