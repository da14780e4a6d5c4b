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
	if id := verifiedID(state); id != "" {
		return id
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	return "addr:" + host
}

// verifiedID is the SPIFFE ID of a client certificate that the TLS handshake
// verified against the configured CAs, or "".
func verifiedID(state *tls.ConnectionState) string {
	if state == nil || len(state.VerifiedChains) == 0 {
		return ""
	}
	return identity.PeerID(state)
}

func grpcPeer(ctx context.Context) (state *tls.ConnectionState, remote string) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, "unknown"
	}
	if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
		state = &ti.State
	}
	if p.Addr != nil {
		remote = p.Addr.String()
	}
	return state, remote
}

func grpcCaller(ctx context.Context) string { return callerOf(grpcPeer(ctx)) }

func httpCaller(r *http.Request) string { return callerOf(r.TLS, r.RemoteAddr) }
