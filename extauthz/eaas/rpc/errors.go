package rpc

import (
	"errors"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meshward/meshward/extauthz/eaas/coordinator"
)

// httpStatus is the HTTP answer to a coordinator refusal.
func httpStatus(k coordinator.Kind) int {
	switch k {
	case coordinator.KindBadRequest:
		return http.StatusBadRequest
	case coordinator.KindForbidden, coordinator.KindFailed:
		return http.StatusForbidden
	case coordinator.KindStale:
		return http.StatusConflict
	case coordinator.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case coordinator.KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func grpcCode(k coordinator.Kind) codes.Code {
	switch k {
	case coordinator.KindBadRequest:
		return codes.InvalidArgument
	case coordinator.KindForbidden, coordinator.KindFailed:
		return codes.PermissionDenied
	case coordinator.KindStale:
		return codes.Aborted
	case coordinator.KindTooLarge:
		return codes.ResourceExhausted
	case coordinator.KindUnavailable:
		return codes.Unavailable
	}
	return codes.Internal
}

// grpcError carries a refusal's reason id first in the status message.
func grpcError(err error) error {
	var e *coordinator.Error
	if errors.As(err, &e) {
		return status.Error(grpcCode(e.Kind), e.Reason+": "+publicMessage(e))
	}
	return status.Error(codes.Internal, "internal error")
}

// publicMessage is what a requester is told: the refusal's own words about
// its request, but not the replicas' errors behind an outage or a failed
// operation (their addresses and internals are the operator's, in the log).
func publicMessage(e *coordinator.Error) string {
	switch e.Kind {
	case coordinator.KindUnavailable:
		return "no replica could serve"
	case coordinator.KindFailed:
		return "the cryptography refused the request"
	}
	return e.Msg
}

// remote classifies a client call's error: a replica that is down, cut,
// overloaded or too slow is unavailable (the pool tries another); a refusal
// is the answer. A refusal keeps its reason id when it has one.
func remote(err error) error {
	if err == nil {
		return nil
	}
	s, ok := status.FromError(err)
	if !ok {
		return &coordinator.Unavailable{Err: err}
	}
	switch s.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Unknown, codes.Internal,
		codes.Canceled, codes.Unauthenticated, codes.PermissionDenied, codes.Unimplemented:
		// The last four are a misconfigured replica, not the request's fault.
		return &coordinator.Unavailable{Err: err}
	}
	return errors.New(s.Message())
}

// ReasonOf is the reason id at the start of a refusal's gRPC message.
func ReasonOf(err error) string {
	s, ok := status.FromError(err)
	if !ok {
		return ""
	}
	r, _, found := strings.Cut(s.Message(), ": ")
	if !found {
		return ""
	}
	return r
}
