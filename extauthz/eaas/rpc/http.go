package rpc

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/api/eaas"
	"github.com/meshward/meshward/extauthz/eaas/coordinator"
	"github.com/meshward/meshward/internal/identity"
)

// ReasonPenalized refuses, unread, a batch from a caller that recently sent
// what no filter sends.
const ReasonPenalized = "eaas-penalized"

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
	// PenaltyFor is how long a caller that sent what no filter sends (only
	// fakes, someone else's requester id, frames that do not parse) has its
	// batches refused unread (default 10 s).
	PenaltyFor time.Duration
	// Shed counts requests turned away by a bound ("total", "caller",
	// "size", "penalty").
	Shed func(bound string)
	Log  zerolog.Logger
}

// Requesters serves the sidecar filters: GET eaas.EnrolmentPath and POST
// eaas.MessagesPath on the authorizer's check port. The caller's identity is
// its verified mesh certificate; without one nothing is answered.
type Requesters struct {
	C         *coordinator.Coordinator
	cfg       HTTPConfig
	budget    *budget
	penalties *penalties
	// refusals is the log of refusals, sampled: a flood must not become a
	// flood of log lines.
	refusals zerolog.Logger
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
	if cfg.PenaltyFor <= 0 {
		cfg.PenaltyFor = 10 * time.Second
	}
	return &Requesters{C: c, cfg: cfg, budget: newBudget(cfg.MaxBytesInFlight, cfg.MaxBytesPerCaller),
		penalties: newPenalties(cfg.PenaltyFor, 1<<16),
		refusals:  cfg.Log.Sample(&zerolog.BurstSampler{Burst: 20, Period: time.Second})}
}

// Register mounts the endpoints.
func (q *Requesters) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+eaas.EnrolmentPath, q.enrol)
	mux.HandleFunc("POST "+eaas.MessagesPath, q.messages)
}

func (q *Requesters) enrol(w http.ResponseWriter, r *http.Request) {
	caller, ok := meshCaller(w, r)
	if !ok {
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
	caller, ok := meshCaller(w, r)
	if !ok {
		return
	}
	if left, ok := q.penalties.active(caller); ok {
		q.cfg.Shed("penalty")
		w.Header().Set("Retry-After", strconv.Itoa(int(left/time.Second)+1))
		writeError(w, http.StatusTooManyRequests, ReasonPenalized, "recent batches held no real message or were malformed")
		return
	}
	// Membership and the caller's own bounds come first: a workload that is
	// no member reserves nothing and has nothing read.
	bounds, ok := q.C.Bounds(caller)
	if !ok {
		q.refusals.Warn().Str("caller", caller).Str("op", "messages").Str("reason", coordinator.ReasonNotMember).Msg("eaas: refused")
		writeError(w, http.StatusForbidden, coordinator.ReasonNotMember, "the caller is not a member of any subscriber")
		return
	}
	body, release, ok := q.read(w, r, caller, min(q.cfg.MaxBatchBytes, bounds.MaxRequestBytes))
	if !ok {
		return
	}
	defer release()
	frames, err := eaas.SplitFrames(body, 1<<8, len(body))
	if err != nil {
		q.penalties.add(caller)
		writeError(w, http.StatusBadRequest, coordinator.ReasonMalformed, err.Error())
		return
	}
	// A decryption is answered by 2^t frames of its size: the answer is
	// reserved before it is made, not only the request.
	releaseAnswer, ok := q.reserve(w, caller, bounds.AnswerBytes(int64(len(body)), len(frames)))
	if !ok {
		return
	}
	defer releaseAnswer()
	ans, err := q.C.Process(r.Context(), caller, frames)
	if err != nil {
		q.refused(w, caller, "messages", err)
		return
	}
	if ans.ForwardPlaintext {
		q.cfg.Log.Warn().Str("caller", caller).Msg("eaas: no replica could serve; the subscriber forwards raw data")
		w.Header().Set(eaas.ForwardHeader, eaas.ForwardPlaintext)
	}
	writeFrames(w, ans.Frames)
}

// writeFrames writes a batch frame by frame, not copied into one buffer.
func writeFrames(w http.ResponseWriter, frames []eaas.Frame) {
	size := 0
	for _, f := range frames {
		size += varintLen(f.NBits) + (f.NBits+7)/8
	}
	w.Header().Set("Content-Type", eaas.ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(size))
	var head [binary.MaxVarintLen64]byte
	for _, f := range frames {
		if _, err := w.Write(binary.AppendUvarint(head[:0], uint64(f.NBits))); err != nil {
			return
		}
		if _, err := w.Write(f.Bits[:(f.NBits+7)/8]); err != nil {
			return
		}
	}
}

func varintLen(n int) int { return len(binary.AppendUvarint(nil, uint64(n))) }

// read takes the body's size from the budget before reading it: a body
// without a declared length, or longer than limit, is not read.
func (q *Requesters) read(w http.ResponseWriter, r *http.Request, caller string, limit int64) ([]byte, func(), bool) {
	n := r.ContentLength
	switch {
	case n < 0:
		writeError(w, http.StatusLengthRequired, coordinator.ReasonMalformed, "a Content-Length is required")
		return nil, nil, false
	case n > limit:
		q.cfg.Shed("size")
		writeError(w, http.StatusRequestEntityTooLarge, coordinator.ReasonTooLarge,
			fmt.Sprintf("%d bytes: at most %d", n, limit))
		return nil, nil, false
	}
	release, ok := q.reserve(w, caller, n)
	if !ok {
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

// reserve takes n bytes of the caller's budget, or answers 503.
func (q *Requesters) reserve(w http.ResponseWriter, caller string, n int64) (func(), bool) {
	release, bound := q.budget.take(caller, n)
	if release == nil {
		q.cfg.Shed(bound)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "eaas-overloaded", "too many bytes in flight ("+bound+")")
		return nil, false
	}
	return release, true
}

func (q *Requesters) refused(w http.ResponseWriter, caller, what string, err error) {
	var e *coordinator.Error
	if !errors.As(err, &e) {
		q.cfg.Log.Error().Err(err).Str("caller", caller).Str("op", what).Msg("eaas: request failed")
		writeError(w, http.StatusInternalServerError, "eaas-internal", "internal error")
		return
	}
	if what == "messages" && penalized[e.Reason] {
		q.penalties.add(caller)
	}
	q.refusals.Warn().Str("caller", caller).Str("op", what).Str("reason", e.Reason).Str("detail", e.Msg).Msg("eaas: refused")
	writeError(w, httpStatus(e.Kind), e.Reason, publicMessage(e))
}

func writeError(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(eaas.ErrorAnswer{Reason: reason, Message: msg})
}

// meshCaller is the verified mesh identity of the request's client; without
// one the request is answered 401 here.
func meshCaller(w http.ResponseWriter, r *http.Request) (string, bool) {
	caller := identity.Verified(r.TLS)
	if caller == "" {
		writeError(w, http.StatusUnauthorized, "eaas-unauthenticated", "a verified mesh certificate is required")
	}
	return caller, caller != ""
}
