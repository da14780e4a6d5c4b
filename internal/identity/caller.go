package identity

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// Verified is the SPIFFE ID of a client certificate that the TLS handshake
// verified against the configured CAs, or "".
func Verified(state *tls.ConnectionState) string {
	if state == nil || len(state.VerifiedChains) == 0 {
		return ""
	}
	return PeerID(state)
}

// GRPCPeer is a gRPC call's TLS state (nil on plaintext) and remote address.
func GRPCPeer(ctx context.Context) (state *tls.ConnectionState, remote string) {
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

// BearerMatches says whether the one authorization value is "Bearer " and the
// token, compared in constant time; a bare token is refused, so a value
// meant for another scheme never counts as this one.
func BearerMatches(vals []string, token []byte) bool {
	if len(vals) != 1 || len(token) == 0 {
		return false
	}
	got, ok := strings.CutPrefix(vals[0], "Bearer ")
	// Digests of equal length, so the comparison leaks not even the length.
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256(token)
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1 && ok
}

// Own is the SPIFFE ID of the first certificate a TLS config presents (the
// process's or sidecar's own identity), or "".
func Own(cfg *tls.Config) string {
	if cfg == nil || len(cfg.Certificates) == 0 || len(cfg.Certificates[0].Certificate) == 0 {
		return ""
	}
	leaf, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		return ""
	}
	return PeerID(&tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}})
}
