package server

import (
	"context"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// shedder bounds the checks in flight. Past the bound a call is refused
// before its request is even read: shedding costs less than a decision, and
// the caller (the filter, Envoy) fails closed at once instead of queueing.
type shedder struct {
	slots chan struct{}
	m     *Metrics
}

func newShedder(maxInFlight int, m *Metrics) *shedder {
	return &shedder{slots: make(chan struct{}, maxInFlight), m: m}
}

type slotKey struct{}

func (s *shedder) acquire() bool {
	select {
	case s.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s *shedder) release() { <-s.slots }

// errOverloaded is what a shed gRPC call gets.
var errOverloaded = status.Error(codes.ResourceExhausted, "meshward authorizer overloaded: check shed, fail closed")

// tap runs before gRPC reads the request.
func (s *shedder) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if info.FullMethodName != "/envoy.service.auth.v3.Authorization/Check" {
		return ctx, nil
	}
	if !s.acquire() {
		s.m.shed.WithLabelValues("grpc").Inc()
		return ctx, errOverloaded
	}
	return context.WithValue(ctx, slotKey{}, true), nil
}

// release gives back the slot the tap took, once the call is done.
func (s *shedder) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if ctx.Value(slotKey{}) != nil {
		defer s.release()
	}
	return h(ctx, req)
}

// http sheds the filter's checks the same way, before reading the body.
func (s *shedder) http(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.acquire() {
			s.m.shed.WithLabelValues("http").Inc()
			w.Header().Set("Retry-After", "1")
			http.Error(w, "meshward authorizer overloaded: check shed, fail closed", http.StatusServiceUnavailable)
			return
		}
		defer s.release()
		next(w, r)
	}
}
