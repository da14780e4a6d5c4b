package server

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/meshward/meshward/internal/identity"
)

// A caller is who sent a check: the SPIFFE ID of the verified client
// certificate, or "addr:" and the peer's IP when the listener is plaintext
// (dev mode), so per-caller bounds still hold per host.
func callerOf(state *tls.ConnectionState, remote string) string {
	if id := identity.PeerID(state); id != "" {
		return id
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	return "addr:" + host
}

func grpcCaller(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "addr:unknown"
	}
	var state *tls.ConnectionState
	if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
		state = &ti.State
	}
	remote := ""
	if p.Addr != nil {
		remote = p.Addr.String()
	}
	return callerOf(state, remote)
}

func httpCaller(r *http.Request) string { return callerOf(r.TLS, r.RemoteAddr) }
