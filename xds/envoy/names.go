package envoy

import (
	"strconv"
	"strings"
)

// Cluster names outside the mesh's services. AuthzHTTPCluster is the name
// the filter's "authorizer_cluster" must give.
const (
	AuthzHTTPCluster = "meshward-authz"
	AuthzGRPCCluster = "meshward-authz-grpc"
	EaaSCluster      = "meshward-eaas"
	WasmCodeCluster  = "meshward-wasm-code"
	// OutboundRouteName is the outbound listener's route configuration (RDS):
	// a change of what the node may call then leaves the listener, and the
	// application's open connections, alone.
	OutboundRouteName = "meshward-outbound"
)

// Filter names in the HTTP connection managers.
const (
	WasmFilterName = "envoy.filters.http.wasm"
	ExtAuthzName   = "envoy.filters.http.ext_authz"
	RouterName     = "envoy.filters.http.router"
)

// Every listener carries filter_metadata[MetadataKey] = {"state": ...,
// "service": ...}: an inbound socket is StateServing or StateDraining.
const (
	MetadataKey   = "meshward"
	StateServing  = "serving"
	StateDraining = "draining"
	StateOutbound = "outbound"
)

const (
	inboundPrefix  = "inbound|"
	outboundPrefix = "outbound|"
)

// InboundListenerName is derived from the socket alone: a new and an old
// socket coexist during a rotation, and a socket keeps its name when it
// starts draining (Envoy refuses a listener update that moves an address,
// and a renamed listener would close the old socket at once).
func InboundListenerName(s Socket) string { return inboundPrefix + s.String() }

// OutboundListenerName is derived from the socket for the same reason.
func OutboundListenerName(s Socket) string { return outboundPrefix + s.String() }

// InboundClusterName is Istio's name for the local application's cluster.
func InboundClusterName(service string, app Socket) string {
	return inboundPrefix + strconv.FormatUint(uint64(app.Port), 10) + "||" + service
}

// OutboundClusterName is Istio's name for a service. It holds the service
// port, never an endpoint's: a rotation changes endpoints only, since a
// renamed cluster fails the requests in flight on it.
func OutboundClusterName(p Peer) string {
	return outboundPrefix + strconv.FormatUint(uint64(p.Port), 10) + "||" + p.Service
}

// statName makes a socket usable in a stat prefix (Envoy splits stats on
// '.' and ':' would be read as a tag separator by some sinks).
func statName(s Socket) string {
	return strings.NewReplacer(".", "_", ":", "_", "[", "", "]", "").Replace(s.String())
}
