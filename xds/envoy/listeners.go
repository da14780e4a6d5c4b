package envoy

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/structpb"
)

func socketAddress(s Socket) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: s.Address, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: s.Port},
	}}}
}

// hardened are the connection manager settings every listener shares.
// Paths are normalized as meshward's default MERGE_SLASHES mode before any
// filter runs, so the filter, the authorizer and the application judge the
// same path; escaped slashes are refused, which that mode also does.
func hardened(hcm *hcmv3.HttpConnectionManager) *hcmv3.HttpConnectionManager {
	hcm.CodecType = hcmv3.HttpConnectionManager_AUTO
	hcm.NormalizePath = boolValue(true)
	hcm.MergeSlashes = true
	hcm.PathWithEscapedSlashesAction = hcmv3.HttpConnectionManager_REJECT_REQUEST
	return hcm
}

// inboundHCM checks every request with the Wasm filter, then ext_authz, then
// routes it to the application. The caller's own client-certificate header
// is replaced by what its TLS handshake proved (SANITIZE_SET).
func (s *Sidecar) inboundHCM(sock Socket, draining bool) (*hcmv3.HttpConnectionManager, error) {
	filters, err := chain(
		func() (*hcmv3.HttpFilter, error) { return s.wasmFilter("inbound", s.Filter.Inbound) },
		s.extAuthz, router)
	if err != nil {
		return nil, err
	}
	hcm := hardened(&hcmv3.HttpConnectionManager{
		StatPrefix:               "inbound_" + statName(sock),
		HttpFilters:              filters,
		ForwardClientCertDetails: hcmv3.HttpConnectionManager_SANITIZE_SET,
		SetCurrentClientCertDetails: &hcmv3.HttpConnectionManager_SetCurrentClientCertDetails{
			Uri: true,
		},
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: s.inboundRoute(sock)},
	})
	if draining {
		// Envoy sends Connection: close or GOAWAY once a connection is this
		// old, so callers that keep connections alive move to the new socket.
		d := s.DrainAfter
		if d == 0 {
			d = defaultDrainAfter
		}
		hcm.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{MaxConnectionDuration: duration(d)}
	}
	return hcm, nil
}

// inboundRoute is inline: the listener of a new socket then depends on no
// other resource and is ready as soon as it arrives.
func (s *Sidecar) inboundRoute(sock Socket) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{
		Name: InboundListenerName(sock),
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    InboundClusterName(s.Service, s.App),
			Domains: []string{"*"},
			Routes:  []*routev3.Route{prefixRoute(InboundClusterName(s.Service, s.App))},
		}},
	}
}

func prefixRoute(cluster string) *routev3.Route {
	return &routev3.Route{
		Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster},
		}},
	}
}

// inboundListener takes mesh mTLS only: a caller must present a certificate
// from the mesh CA naming an identity of the sidecar's trust domain.
func (s *Sidecar) inboundListener(sock Socket, draining bool) (*listenerv3.Listener, error) {
	hcm, err := s.inboundHCM(sock, draining)
	if err != nil {
		return nil, err
	}
	tlsSocket, err := s.TLS.downstream(trustDomain(s.Identity))
	if err != nil {
		return nil, err
	}
	state := StateServing
	if draining {
		state = StateDraining
	}
	return s.listener(InboundListenerName(sock), sock, corev3.TrafficDirection_INBOUND, state, hcm, tlsSocket)
}

// outboundListener takes the application's plain HTTP and routes it by
// :authority to the peers it may call (RDS, OutboundRouteName).
func (s *Sidecar) outboundListener() (*listenerv3.Listener, error) {
	makers := []func() (*hcmv3.HttpFilter, error){router}
	if s.Filter.Outbound != "" {
		makers = append([]func() (*hcmv3.HttpFilter, error){
			func() (*hcmv3.HttpFilter, error) { return s.wasmFilter("outbound", s.Filter.Outbound) },
		}, makers...)
	}
	filters, err := chain(makers...)
	if err != nil {
		return nil, err
	}
	hcm := hardened(&hcmv3.HttpConnectionManager{
		StatPrefix:  "outbound_" + statName(s.Outbound),
		HttpFilters: filters,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource: ads(), RouteConfigName: OutboundRouteName,
		}},
	})
	return s.listener(OutboundListenerName(s.Outbound), s.Outbound, corev3.TrafficDirection_OUTBOUND, StateOutbound, hcm, nil)
}

func (s *Sidecar) listener(name string, sock Socket, dir corev3.TrafficDirection, state string,
	hcm *hcmv3.HttpConnectionManager, tlsSocket *corev3.TransportSocket) (*listenerv3.Listener, error) {
	a, err := pack(hcm)
	if err != nil {
		return nil, err
	}
	md, err := structpb.NewStruct(map[string]any{"state": state, "service": s.Service})
	if err != nil {
		return nil, err
	}
	return &listenerv3.Listener{
		Name:             name,
		Address:          socketAddress(sock),
		TrafficDirection: dir,
		Metadata:         &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{MetadataKey: md}},
		FilterChains: []*listenerv3.FilterChain{{
			Filters: []*listenerv3.Filter{{
				Name: wellknown.HTTPConnectionManager, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: a},
			}},
			TransportSocket: tlsSocket,
		}},
	}, nil
}

// trustDomain is the host of a SPIFFE ID validate has accepted.
func trustDomain(id string) string {
	rest := strings.TrimPrefix(id, "spiffe://")
	td, _, _ := strings.Cut(rest, "/")
	return td
}

func ads() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}
