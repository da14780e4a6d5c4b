// Package sidecar is a small HTTP proxy that runs a proxy-wasm filter on
// every request and response: Envoy's part in the local system.
//
// The inbound side (Listen) stands in front of a workload: it terminates
// mTLS, so the filter sees the caller's SPIFFE ID as Envoy's
// connection.uri_san_peer_certificate property, and forwards to the
// workload in plain HTTP. The outbound side (ListenOutbound) takes the
// workload's own plain-HTTP requests on loopback and sends them to one
// destination sidecar over mTLS with the sidecar's mesh certificate.
//
// Both stream request and response bodies through their filter with
// Envoy's semantics (see package proxywasm). Like Envoy with Istio's
// pathNormalization, both normalize the path before the filter runs and
// forward exactly the path the filter (and the authorizer) judged.
package sidecar

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/e2e/proxywasm"
	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/internal/pathnorm"
)

// Sidecar is the inbound side: it forwards what the filter lets through
// to Upstream.
type Sidecar struct {
	Host     *proxywasm.Host
	Upstream string // http://host:port
	Client   *http.Client
	Log      zerolog.Logger
	// PathNormalization is Istio's meshConfig.pathNormalization; the zero
	// value is meshward's default (pathnorm.Default).
	PathNormalization pathnorm.Mode
	localID           string // set by Listen from its certificate
}

func (s *Sidecar) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := &exchange{host: s.Host, upstream: s.Upstream, client: s.Client, log: s.Log, norm: s.PathNormalization,
		props: s.properties}
	x.serve(w, r)
}

func (s *Sidecar) properties(r *http.Request) map[string]string {
	p := map[string]string{"source.address": r.RemoteAddr, "listener_direction": inbound}
	if id := identity.PeerID(r.TLS); id != "" {
		p["connection.uri_san_peer_certificate"] = id
	}
	if s.localID != "" {
		p["connection.uri_san_local_certificate"] = s.localID
	}
	return p
}

// Server is a listening sidecar side.
type Server struct {
	Addr net.Addr
	srv  *http.Server
}

// Listen serves the inbound side s on addr; with tlsCfg it terminates (m)TLS.
func Listen(addr string, tlsCfg *tls.Config, s *Sidecar) (*Server, error) {
	if tlsCfg != nil {
		s.localID = identity.Own(tlsCfg)
	}
	if s.Client == nil {
		s.Client = &http.Client{Timeout: 30 * time.Second}
	}
	return serve(addr, tlsCfg, s, s.Log)
}

func serve(addr string, tlsCfg *tls.Config, h http.Handler, log zerolog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("sidecar: serve")
		}
	}()
	return &Server{Addr: ln.Addr(), srv: srv}, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }
