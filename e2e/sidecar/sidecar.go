// Package sidecar is a small inbound HTTP proxy that runs a proxy-wasm filter
// on every request in front of an upstream service: Envoy's part in the
// local system. It terminates mTLS, so the filter sees the caller's SPIFFE ID
// as Envoy's connection.uri_san_peer_certificate property. Like Envoy with
// Istio's pathNormalization, it normalizes the path before the filter runs
// and forwards exactly the path the filter (and the authorizer) judged.
package sidecar

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/e2e/proxywasm"
	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/internal/pathnorm"
)

// Sidecar forwards what the filter lets through to Upstream.
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

// hop-by-hop headers are not forwarded (RFC 9110, section 7.6.1).
var hopByHop = map[string]bool{"connection": true, "keep-alive": true, "proxy-connection": true,
	"te": true, "trailer": true, "transfer-encoding": true, "upgrade": true}

func (s *Sidecar) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	target, err := pathnorm.Normalize(originForm(r.RequestURI), s.PathNormalization)
	if err != nil { // the error names a byte offset, never the target: a query may hold secrets
		s.Log.Warn().Err(err).Str("method", r.Method).Msg("sidecar: request path rejected")
		http.Error(w, "sidecar: "+err.Error(), http.StatusBadRequest)
		return
	}
	stream, local, err := s.Host.OnRequestHeaders(ctx, proxywasm.Request{
		Headers:     requestHeaders(r, target),
		Properties:  s.properties(r),
		EndOfStream: r.ContentLength == 0,
	})
	if err != nil {
		s.Log.Error().Err(err).Msg("sidecar: filter failed")
		http.Error(w, "sidecar: filter failed", http.StatusInternalServerError)
		return
	}
	defer stream.Finish(context.WithoutCancel(ctx))
	if local != nil {
		writeLocal(w, local)
		return
	}
	s.forward(ctx, w, r, stream)
}

func requestHeaders(r *http.Request, target string) [][2]string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	hs := [][2]string{{":method", r.Method}, {":path", target}, {":authority", r.Host}, {":scheme", scheme}}
	for k, vs := range r.Header {
		if hopByHop[strings.ToLower(k)] {
			continue
		}
		for _, v := range vs {
			hs = append(hs, [2]string{strings.ToLower(k), v})
		}
	}
	return hs
}

func (s *Sidecar) properties(r *http.Request) map[string]string {
	p := map[string]string{"source.address": r.RemoteAddr}
	if id := identity.PeerID(r.TLS); id != "" {
		p["connection.uri_san_peer_certificate"] = id
	}
	if s.localID != "" {
		p["connection.uri_san_local_certificate"] = s.localID
	}
	return p
}

// localID is the SPIFFE ID of the sidecar's own certificate, as Envoy
// reports it in connection.uri_san_local_certificate.
func localID(cfg *tls.Config) string {
	if cfg == nil || len(cfg.Certificates) == 0 || len(cfg.Certificates[0].Certificate) == 0 {
		return ""
	}
	leaf, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		return ""
	}
	return identity.PeerID(&tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}})
}

func writeLocal(w http.ResponseWriter, l *proxywasm.LocalResponse) {
	for _, h := range l.Headers {
		w.Header().Add(h[0], h[1])
	}
	w.WriteHeader(l.Status)
	_, _ = w.Write(l.Body)
}

func (s *Sidecar) forward(ctx context.Context, w http.ResponseWriter, r *http.Request, st *proxywasm.Stream) {
	out, err := http.NewRequestWithContext(ctx, r.Method, s.Upstream, r.Body)
	if err != nil {
		http.Error(w, "sidecar: "+err.Error(), http.StatusBadGateway)
		return
	}
	path := ""
	for _, h := range st.Headers() { // as the filter left them
		switch h[0] {
		case ":path":
			if err := setTarget(out.URL, h[1]); err != nil {
				s.Log.Error().Err(err).Msg("sidecar: cannot forward the filter's :path")
				http.Error(w, "sidecar: cannot forward the :path", http.StatusBadGateway)
				return
			}
			path, _, _ = strings.Cut(h[1], "?")
		case ":authority":
			out.Host = h[1]
		case ":method", ":scheme":
		default:
			out.Header.Add(h[0], h[1])
		}
	}
	out.ContentLength = r.ContentLength
	resp, err := s.Client.Do(out)
	if err != nil {
		s.Log.Warn().Err(withoutURL(err)).Str("path", path).Msg("sidecar: upstream failed")
		http.Error(w, "sidecar: upstream unavailable", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	s.respond(ctx, w, resp, st)
}

func (s *Sidecar) respond(ctx context.Context, w http.ResponseWriter, resp *http.Response, st *proxywasm.Stream) {
	hs := [][2]string{{":status", strconv.Itoa(resp.StatusCode)}}
	for k, vs := range resp.Header {
		for _, v := range vs {
			hs = append(hs, [2]string{strings.ToLower(k), v})
		}
	}
	hs, err := st.OnResponseHeaders(ctx, hs)
	if err != nil {
		s.Log.Error().Err(err).Msg("sidecar: filter failed on response headers")
		http.Error(w, "sidecar: filter failed", http.StatusInternalServerError)
		return
	}
	for _, h := range hs {
		if !strings.HasPrefix(h[0], ":") && !hopByHop[h[0]] {
			w.Header().Add(h[0], h[1])
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// Server is a listening sidecar.
type Server struct {
	Addr net.Addr
	srv  *http.Server
}

// Listen serves s on addr; with tlsCfg it terminates (m)TLS.
func Listen(addr string, tlsCfg *tls.Config, s *Sidecar) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
		s.localID = localID(tlsCfg)
	}
	if s.Client == nil {
		s.Client = &http.Client{Timeout: 30 * time.Second}
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Log.Error().Err(err).Msg("sidecar: serve")
		}
	}()
	return &Server{Addr: ln.Addr(), srv: srv}, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }
