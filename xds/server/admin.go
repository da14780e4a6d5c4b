package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/meshward/meshward/api/xdsevent"
	"github.com/meshward/meshward/xds/rotation"
)

func (r *Running) adminServer(auth AdminAuth) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /rotate", r.serveRotate)
	mux.HandleFunc("POST /rotate-self", r.serveRotateSelf)
	mux.HandleFunc("GET /placement", r.servePlacement)
	mux.HandleFunc("GET /status", r.serveStatus)
	mux.HandleFunc("POST "+xdsevent.Path, r.serveEvents)
	mux.Handle("GET /metrics", promhttp.HandlerFor(r.metrics.reg, promhttp.HandlerOpts{}))
	return &http.Server{
		Handler:           r.authenticate(auth, mux),
		TLSConfig:         auth.serverTLS(),
		ReadHeaderTimeout: 5 * time.Second,
		// A body (an event) arrives within seconds; an idle keep-alive
		// connection is dropped rather than held for whoever opened it.
		ReadTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute,
		// net/http answers "OPTIONS *" itself, before any handler: every
		// call is authenticated, that one too.
		DisableGeneralOptionsHandler: true,
		MaxHeaderBytes:               16 << 10,
		// net/http reports refused TLS handshakes (a certificate from another
		// CA, none at all) only to its error log: count them there.
		ErrorLog: log.New(handshakeLog{r}, "", 0),
	}
}

type handshakeLog struct{ r *Running }

func (h handshakeLog) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("TLS handshake error")) {
		h.r.metrics.refused.WithLabelValues("tls-handshake").Inc()
	}
	h.r.log.Warn().Str("error", string(bytes.TrimSpace(p))).Msg("xds admin")
	return len(p), nil
}

// authenticate lets a call through to next only if auth admits it.
func (r *Running) authenticate(auth AdminAuth, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if f := auth.verify(req); f != nil {
			if f.code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="meshward-xds"`)
			}
			r.refuse(w, req, f)
			return
		}
		next.ServeHTTP(w, req)
	})
}

// refuse answers a refused call; the log says who and why, never the
// request's headers or query.
func (r *Running) refuse(w http.ResponseWriter, req *http.Request, f *refusal) {
	r.metrics.refused.WithLabelValues(f.reason).Inc()
	r.log.Warn().Str("remote", req.RemoteAddr).Str("method", req.Method).Str("path", req.URL.Path).
		Str("reason", f.reason).Int("status", f.code).Msg("xds admin call refused")
	http.Error(w, f.msg, f.code)
}

// placementJSON is what callers are told (version, endpoints) and what the
// services' sidecars serve besides: sockets opening or draining.
type placementJSON struct {
	Version   uint64              `json:"version"`
	Endpoints map[string][]string `json:"endpoints"`
	Also      map[string][]string `json:"also_serving,omitempty"`
}

func toJSON(p *rotation.Placement) placementJSON {
	out := placementJSON{Version: p.Announced, Endpoints: map[string][]string{}, Also: map[string][]string{}}
	for _, s := range p.Services() {
		eps := p.Endpoints(s)
		for _, e := range eps {
			out.Endpoints[s] = append(out.Endpoints[s], e.String())
		}
		for _, e := range p.Serving(s)[len(eps):] {
			out.Also[s] = append(out.Also[s], e.String())
		}
	}
	return out
}

// serveRotate: POST /rotate?service=S[&port=P].
func (r *Running) serveRotate(w http.ResponseWriter, req *http.Request) {
	service := req.URL.Query().Get("service")
	var port uint64
	if ps := req.URL.Query().Get("port"); ps != "" {
		var err error
		if port, err = strconv.ParseUint(ps, 10, 16); err != nil || port == 0 {
			r.refuse(w, req, &refusal{http.StatusBadRequest, "bad-request", fmt.Sprintf("rotate: port %q: want 1-65535", ps)})
			return
		}
	}
	p, err := r.Move(req.Context(), service, uint32(port), "admin")
	if err != nil {
		r.refuse(w, req, moveRefusal(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(toJSON(p))
}

// moveRefusal maps the planner's refusals to HTTP.
func moveRefusal(err error) *refusal {
	for _, m := range []struct {
		err    error
		code   int
		reason string
	}{
		{rotation.ErrUnknownService, http.StatusNotFound, "unknown-service"},
		{rotation.ErrOtherService, http.StatusConflict, "other-service"},
		{rotation.ErrOutsidePool, http.StatusBadRequest, "outside-pool"},
		{rotation.ErrNoPort, http.StatusConflict, "no-port"},
		{ErrFollower, http.StatusServiceUnavailable, "not-leader"},
	} {
		if errors.Is(err, m.err) {
			return &refusal{m.code, m.reason, err.Error()}
		}
	}
	return &refusal{http.StatusInternalServerError, "internal", err.Error()}
}

func (r *Running) servePlacement(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(toJSON(r.planner.Current()))
}
