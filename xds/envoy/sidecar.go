// Package envoy turns the description of one sidecar node into the Envoy v3
// resources that configure it: inbound listeners that require mesh mTLS and
// run the meshward Wasm filter and ext_authz before the router, an outbound
// listener that routes only to the services the node may call, and the
// clusters and endpoints behind them. It is pure logic: no server, no network.
package envoy

import (
	"net/netip"
	"strconv"
	"time"
)

// Sidecar is everything one sidecar's configuration depends on.
type Sidecar struct {
	// Node is the xDS node id the sidecar connects with.
	Node string
	// Identity is the SPIFFE ID in the workload's certificate.
	Identity string
	// Service is the service this sidecar fronts.
	Service string
	// Inbound are the sockets callers reach the service at. During a
	// rotation there are two: the new one opens before the old one drains.
	Inbound []Socket
	// Draining are old inbound sockets: still listening (a connection open on
	// them finishes its requests), with their connections closed gracefully
	// after DrainAfter so callers reconnect to an Inbound socket.
	Draining []Socket
	// DrainAfter bounds a connection's life on a draining socket (default 5s).
	DrainAfter time.Duration
	// App is where the local application listens.
	App Socket
	// Outbound is the one listener the application sends its calls to; it
	// must be a loopback address: anyone who reaches it calls with this
	// workload's identity.
	Outbound Socket
	// Calls are the services this node may call. Only these get clusters,
	// routes and endpoints (need-to-know).
	Calls  []Peer
	Filter WasmFilter
	Authz  Authorizer
	TLS    TLS
	// BufferLimitBytes is Envoy's per_connection_buffer_limit_bytes on the
	// sidecar's listeners and clusters. 0 leaves Envoy's default (1 MiB)
	// where the filter holds no EaaS body and sizes it from the plugin
	// configuration's eaas.max_body_bytes where it does (buffers.go).
	BufferLimitBytes uint32
}

// Socket is an IP address and a port (the shape of catalog.Endpoint, so one
// converts to the other).
type Socket struct {
	Address string
	Port    uint32
}

// String is address:port, with IPv6 in brackets.
func (s Socket) String() string {
	if ip, err := netip.ParseAddr(s.Address); err == nil && s.Port <= 65535 {
		return netip.AddrPortFrom(ip, uint16(s.Port)).String()
	}
	return s.Address + ":" + strconv.FormatUint(uint64(s.Port), 10)
}

// Peer is a service the node may call.
type Peer struct {
	Service string
	// Identity is the SPIFFE ID the peer's sidecars must present: a workload
	// that takes over a peer's old address cannot answer in its name.
	Identity string
	// Port is the service port the application names in :authority. It
	// never rotates, so it is part of the cluster name; the endpoints' ports
	// do rotate.
	Port uint32
	// Hosts are the :authority hosts that reach the peer (default: Service).
	Hosts     []string
	Endpoints []Socket
}

// WasmFilter is the meshward filter as the sidecar loads it.
type WasmFilter struct {
	VMID   string
	RootID string
	Code   WasmCode
	// Inbound is the plugin configuration (JSON) on inbound listeners.
	Inbound string
	// Outbound is the plugin configuration on the outbound listener; empty
	// leaves the filter off there (it only does EaaS on that side).
	Outbound string
}

// WasmCode says where the sidecar gets the module: a file on its host, or
// an HTTP URI with the module's SHA-256, which Envoy checks before loading.
type WasmCode struct {
	File   string
	Remote *RemoteCode
}

// RemoteCode is a module fetched over plain HTTP from Server; the digest,
// not the channel, vouches for it.
type RemoteCode struct {
	URI    string
	SHA256 string
	Server Socket
}

// Authorizer is the meshward authorizer as a sidecar reaches it.
type Authorizer struct {
	// Identity is the authorizer's SPIFFE ID: a sidecar only talks to a
	// server that presents it.
	Identity string
	// GRPC are the ext_authz (HTTP/2) endpoints; HTTP the check port the
	// filter calls out to; EaaS the coordinator's, when it is not on the
	// check port.
	GRPC []Socket
	HTTP []Socket
	EaaS []Socket
	// Timeout bounds one ext_authz check (default 500ms).
	Timeout time.Duration
}

// TLS names the workload's certificate, key and mesh CA: files on the
// sidecar's host, or secrets from a node agent's SDS server.
type TLS struct {
	CertFile, KeyFile, CAFile string
	SDS                       *SDS
}

// SDS names secrets of an SDS server the sidecar's bootstrap defines (Istio:
// cluster "sds-grpc", secrets "default" and "ROOTCA"). Keys then never pass
// through the xDS server.
type SDS struct {
	Cluster string
	Cert    string
	CA      string
}

const (
	defaultDrainAfter   = 5 * time.Second
	defaultAuthzTimeout = 500 * time.Millisecond
)
