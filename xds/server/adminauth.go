package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/meshward/meshward/internal/identity"
)

// MinTokenBytes is the shortest admin token accepted.
const MinTokenBytes = 16

// AdminAuth says who may use the admin endpoint: the holders of a bearer
// token, the holders of a client certificate from TLS.ClientCAs with one of
// AllowIDs, or (both set) holders of both.
type AdminAuth struct {
	Token    []byte      // "Authorization: Bearer <Token>" on every call; nil: not asked
	TLS      *tls.Config // the admin port's certificate; with ClientCAs, a client certificate is required
	AllowIDs []string    // SPIFFE IDs admitted over mutual TLS; empty: any certificate from ClientCAs
	// EventIDs are SPIFFE IDs admitted over mutual TLS to POST /events and
	// nothing else: the authorizer reports there, and a compromised
	// authorizer identity must not be able to read the placement or move
	// services where it likes.
	EventIDs []string
}

func (a AdminAuth) mutual() bool { return a.TLS != nil && a.TLS.ClientCAs != nil }

// check refuses a configuration that would let an attacker in: the admin
// endpoint hands out every rotated port and moves services.
func (a AdminAuth) check(addr string) error {
	switch {
	case len(a.Token) == 0 && !a.mutual():
		return errors.New("xds admin: neither a bearer token nor client-certificate TLS configured; refusing to serve rotations to anyone")
	case len(a.Token) > 0 && len(a.Token) < MinTokenBytes:
		return fmt.Errorf("xds admin: token is %d bytes, want at least %d", len(a.Token), MinTokenBytes)
	case (len(a.AllowIDs) > 0 || len(a.EventIDs) > 0) && !a.mutual():
		return errors.New("xds admin: allowed identities need client-certificate TLS (a client CA)")
	case a.mutual() && len(a.Token) == 0 && len(a.AllowIDs) == 0 && len(a.EventIDs) == 0:
		// Every workload of the mesh holds a certificate from the mesh CA.
		return errors.New("xds admin: client-certificate TLS without a token needs the identities allowed; every mesh workload holds a mesh certificate")
	case a.TLS != nil && len(a.TLS.Certificates) == 0 && a.TLS.GetCertificate == nil:
		return errors.New("xds admin: TLS without a server certificate")
	case a.TLS == nil && !loopback(addr):
		return fmt.Errorf("xds admin: a bearer token over plain HTTP on %s could be read off the network; give the admin port a TLS certificate or listen on loopback", addr)
	}
	for _, id := range append(slices.Clone(a.AllowIDs), a.EventIDs...) {
		if _, _, _, err := identity.Parse(id); err != nil {
			return fmt.Errorf("xds admin: allowed identity: %w", err)
		}
	}
	return nil
}

// eventsRoute is the only call an EventIDs identity may make.
func eventsRoute(req *http.Request) bool {
	return req.Method == http.MethodPost && req.URL.Path == "/events"
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

func (a AdminAuth) describe() string {
	var parts []string
	if a.mutual() {
		parts = append(parts, "mtls")
	} else if a.TLS != nil {
		parts = append(parts, "tls")
	}
	if len(a.Token) > 0 {
		parts = append(parts, "token")
	}
	return strings.Join(parts, "+")
}

// serverTLS is the admin port's TLS configuration, nil for plain HTTP.
func (a AdminAuth) serverTLS() *tls.Config {
	if a.TLS == nil {
		return nil
	}
	c := a.TLS.Clone()
	if c.ClientCAs != nil {
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}

// refusal is why a call is not let in.
type refusal struct {
	code   int
	reason string // the metric's label
	msg    string
}

// verify admits a call or says why not. The token is compared as a digest in
// constant time, so neither its bytes nor its length leak through timing.
func (a AdminAuth) verify(req *http.Request) *refusal {
	if len(a.AllowIDs) > 0 || len(a.EventIDs) > 0 {
		id := identity.Verified(req.TLS)
		switch {
		case id != "" && slices.Contains(a.AllowIDs, id):
		case id != "" && slices.Contains(a.EventIDs, id) && eventsRoute(req):
		case id != "" && slices.Contains(a.EventIDs, id):
			return &refusal{http.StatusForbidden, "events-only", fmt.Sprintf("identity %q may only report events", id)}
		default:
			return &refusal{http.StatusForbidden, "identity-not-allowed", fmt.Sprintf("identity %q may not use the xds admin API", id)}
		}
	}
	if len(a.Token) == 0 {
		return nil
	}
	vals := req.Header.Values("Authorization")
	if len(vals) == 0 {
		return &refusal{http.StatusUnauthorized, "no-credentials", "want Authorization: Bearer <token>"}
	}
	tok, ok := strings.CutPrefix(vals[0], "Bearer ")
	if len(vals) != 1 || !ok {
		return &refusal{http.StatusUnauthorized, "bad-token", "want one Authorization: Bearer <token>"}
	}
	got, want := sha256.Sum256([]byte(tok)), sha256.Sum256(a.Token)
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return &refusal{http.StatusUnauthorized, "bad-token", "wrong bearer token"}
	}
	return nil
}
