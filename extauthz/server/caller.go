package server

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"

	"github.com/meshward/meshward/internal/identity"
)

// A caller is who sent a check: the SPIFFE ID of the verified client
// certificate, or "addr:" and the peer's IP when the listener is plaintext
// (dev mode), so per-caller bounds still hold per host.
func callerOf(state *tls.ConnectionState, remote string) string {
	if id := verifiedID(state); id != "" {
		return id
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	return "addr:" + host
}

func verifiedID(state *tls.ConnectionState) string { return identity.Verified(state) }

func grpcPeer(ctx context.Context) (*tls.ConnectionState, string) { return identity.GRPCPeer(ctx) }

func grpcCaller(ctx context.Context) string { return callerOf(grpcPeer(ctx)) }

func httpCaller(r *http.Request) string { return callerOf(r.TLS, r.RemoteAddr) }
