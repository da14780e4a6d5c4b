package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/api/eaas"
	"github.com/meshward/meshward/extauthz/eaas/coordinator"
	"github.com/meshward/meshward/internal/identity"
)

// HTTPConfig bounds the requester endpoints.
type HTTPConfig struct {
	// MaxBatchBytes bounds one request body (default 64 MiB).
	MaxBatchBytes int64
	// MaxBytesInFlight bounds the bodies held at once (default 256 MiB) and
	// MaxBytesPerCaller one caller's share of it (default 64 MiB).
	MaxBytesInFlight  int64
	MaxBytesPerCaller int64
	// ReadTimeout bounds reading one body (default 30 s).
	ReadTimeout time.Duration
	// Shed counts requests turned away by a bound ("total", "caller", "size").
	Shed func(bound string)
	Log  zerolog.Logger
}

// Requesters serves the sidecar filters: GET eaas.EnrolmentPath and POST
// eaas.MessagesPath on the authorizer's check port. The caller's identity is
// its verified mesh certificate; without one nothing is answered.
type Requesters struct {
	C      *coordinator.Coordinator
	cfg    HTTPConfig
	budget *budget
}

// NewRequesters makes the handlers.
func NewRequesters(c *coordinator.Coordinator, cfg HTTPConfig) *Requesters {
	if cfg.MaxBatchBytes <= 0 {
		cfg.MaxBatchBytes = 64 << 20
	}
	if cfg.MaxBytesInFlight <= 0 {
		cfg.MaxBytesInFlight = 256 << 20
	}
	if cfg.MaxBytesPerCaller <= 0 {
		cfg.MaxBytesPerCaller = 64 << 20
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 30 * time.Second
	}
	if cfg.Shed == nil {
		cfg.Shed = func(string) {}
	}
	return &Requesters{C: c, cfg: cfg, budget: newBudget(cfg.MaxBytesInFlight, cfg.MaxBytesPerCaller)}
}

// Register mounts the endpoints.
func (q *Requesters) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+eaas.EnrolmentPath, q.enrol)
	mux.HandleFunc("POST "+eaas.MessagesPath, q.messages)
}

func (q *Requesters) enrol(w http.ResponseWriter, r *http.Request) {
	caller := identity.Verified(r.TLS)
	if caller == "" {
		writeError(w, http.StatusUnauthorized, "eaas-unauthenticated", "a verified mesh certificate is required")
		return
	}
	e, err := q.C.Enrol(caller)
	if err != nil {
		q.refused(w, caller, "enrol", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(e)
}

func (q *Requesters) messages(w http.ResponseWriter, r *http.Request) {
	caller := identity.Verified(r.TLS)
	if caller == "" {
		writeError(w, http.StatusUnauthorized, "eaas-unauthenticated", "a verified mesh certificate is required")
		return
	}
	body, release, ok := q.read(w, r, caller)
	if !ok {
		return
	}
	defer release()
	frames, err := eaas.SplitFrames(body, 1<<8, int(q.cfg.MaxBatchBytes))
	if err != nil {
		writeError(w, http.StatusBadRequest, coordinator.ReasonMalformed, err.Error())
		return
	}
	ans, err := q.C.Process(r.Context(), caller, frames)
	if err != nil {
		q.refused(w, caller, "messages", err)
		return
	}
	if ans.ForwardPlaintext {
		q.cfg.Log.Warn().Str("caller", caller).Msg("eaas: no replica could serve; the subscriber forwards raw data")
		w.Header().Set(eaas.ForwardHeader, eaas.ForwardPlaintext)
	}
	var out []byte
	for _, f := range ans.Frames {
		out = eaas.AppendFrame(out, f.Bits, f.NBits)
	}
	w.Header().Set("Content-Type", eaas.ContentType)
	w.Header().Set("Content-Length", fmt.Sprint(len(out)))
	_, _ = w.Write(out)
}

// read takes the body's size from the budget before reading it: a body
// without a declared length, or longer than the bounds, is not read.
func (q *Requesters) read(w http.ResponseWriter, r *http.Request, caller string) ([]byte, func(), bool) {
	n := r.ContentLength
	switch {
	case n < 0:
		writeError(w, http.StatusLengthRequired, coordinator.ReasonMalformed, "a Content-Length is required")
		return nil, nil, false
	case n > q.cfg.MaxBatchBytes:
		q.cfg.Shed("size")
		writeError(w, http.StatusRequestEntityTooLarge, coordinator.ReasonTooLarge,
			fmt.Sprintf("%d bytes: at most %d", n, q.cfg.MaxBatchBytes))
		return nil, nil, false
	}
	release, bound := q.budget.take(caller, n)
	if release == nil {
		q.cfg.Shed(bound)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "eaas-overloaded", "too many bytes in flight ("+bound+")")
		return nil, nil, false
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(q.cfg.ReadTimeout))
	body := make([]byte, n)
	if _, err := io.ReadFull(r.Body, body); err != nil {
		release()
		writeError(w, http.StatusBadRequest, coordinator.ReasonMalformed, "reading the body: "+err.Error())
		return nil, nil, false
	}
	return body, release, true
}

func (q *Requesters) refused(w http.ResponseWriter, caller, what string, err error) {
	var e *coordinator.Error
	if !errors.As(err, &e) {
		q.cfg.Log.Error().Err(err).Str("caller", caller).Str("op", what).Msg("eaas: request failed")
		writeError(w, http.StatusInternalServerError, "eaas-internal", "internal error")
		return
	}
	q.cfg.Log.Warn().Str("caller", caller).Str("op", what).Str("reason", e.Reason).Str("detail", e.Msg).Msg("eaas: refused")
	writeError(w, httpStatus(e.Kind), e.Reason, e.Msg)
}

func writeError(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(eaas.ErrorAnswer{Reason: reason, Message: msg})
}
