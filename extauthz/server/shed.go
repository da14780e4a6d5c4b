package server

import (
	"context"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// shedder bounds the checks in flight, in all and per caller. Past a bound a
// call is refused before its request is even read: shedding costs less than a
// decision, and the caller (the filter, Envoy) fails closed at once instead of
// queueing. The per-caller bound keeps one compromised workload, which may
// open streams and never send their bodies, from taking every slot: an
// authorizer that cannot answer anyone is an outage in fail-closed meshes
// and an open door in fail-open ones.
type shedder struct {
	slots     chan struct{}
	perCaller int
	mu        sync.Mutex
	callers   map[string]int
	deadline  time.Duration // checkDeadline unless a test says otherwise
	m         *Metrics
}

// checkDeadline bounds how long a check may hold a slot, reading included: a
// decision takes microseconds and Envoy gives up on ext_authz after 200 ms by
// default, so only a stalled or hostile caller gets near it.
const checkDeadline = 5 * time.Second

func newShedder(maxInFlight, perCaller int, m *Metrics) *shedder {
	if perCaller <= 0 || perCaller > maxInFlight {
		perCaller = maxInFlight
	}
	return &shedder{slots: make(chan struct{}, maxInFlight), perCaller: perCaller, callers: map[string]int{}, deadline: checkDeadline, m: m}
}

// acquire takes a slot for caller, or says why it cannot.
func (s *shedder) acquire(caller string) (ok bool, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case s.slots <- struct{}{}:
	default:
		return false, "total"
	}
	if s.callers[caller] >= s.perCaller {
		<-s.slots
		return false, "caller"
	}
	s.callers[caller]++
	return true, ""
}

func (s *shedder) release(caller string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	<-s.slots
	if s.callers[caller]--; s.callers[caller] <= 0 {
		delete(s.callers, caller) // the map holds only callers with checks in flight
	}
}

// inFlight is how many checks hold a slot now.
func (s *shedder) inFlight() float64 { return float64(len(s.slots)) }

// errOverloaded is what a shed gRPC call gets.
var errOverloaded = status.Error(codes.ResourceExhausted, "meshward authorizer overloaded: check shed, fail closed")

// tap runs before gRPC reads the request. The slot is given back when the
// stream's context ends, which gRPC does on every path once the stream
// exists: a normal answer, a body that fails to decode (no interceptor ever
// runs then), a cancel, a reset or a closed connection; and the deadline set
// here ends the stream of a caller that never sends its body.
func (s *shedder) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if info.FullMethodName != checkMethod {
		return ctx, nil
	}
	caller := grpcCaller(ctx)
	if ok, why := s.acquire(caller); !ok {
		s.m.shed.WithLabelValues("grpc", why).Inc()
		return ctx, errOverloaded
	}
	ctx, cancel := context.WithTimeout(ctx, s.deadline)
	context.AfterFunc(ctx, func() {
		cancel()
		s.release(caller)
	})
	return ctx, nil
}

// http sheds the filter's checks the same way. The body is read first, within
// checkDeadline and check.MaxRequestBytes, so a caller that trickles its body
// holds a connection but no slot.
func (s *shedder) http(next func(http.ResponseWriter, *http.Request, []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, ok := readCheckBody(w, r, s.deadline)
		if !ok {
			return
		}
		caller := httpCaller(r)
		if ok, why := s.acquire(caller); !ok {
			s.m.shed.WithLabelValues("http", why).Inc()
			w.Header().Set("Retry-After", "1")
			http.Error(w, "meshward authorizer overloaded: check shed, fail closed", http.StatusServiceUnavailable)
			return
		}
		defer s.release(caller)
		next(w, r, body)
	}
}

const checkMethod = "/envoy.service.auth.v3.Authorization/Check"
