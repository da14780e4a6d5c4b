package server

import (
	"context"
	"errors"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	verdictv1 "github.com/meshward/meshward/api/verdict/v1"
	"github.com/meshward/meshward/extauthz/quarantine"
	"github.com/meshward/meshward/internal/identity"
)

// Verdicts serves the verdict API: the eBPF agent reports compromised
// workloads, operators release them.
type Verdicts struct {
	verdictv1.UnimplementedVerdictsServer
	A *Authorizer
}

// maxVerdictTTL bounds a quarantine set by one verdict.
const maxVerdictTTL = 7 * 24 * time.Hour

// Report implements verdictv1.VerdictsServer.
func (s Verdicts) Report(ctx context.Context, v *verdictv1.Verdict) (*verdictv1.Ack, error) {
	if err := validateVerdict(v); err != nil {
		s.A.Metrics.verdicts.WithLabelValues("report", "invalid").Inc()
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	q := s.A.Engine.Quarantine()
	epoch, err := q.Quarantine(ctx, quarantine.Entry{
		Workload: v.GetWorkload(), Reason: v.GetReason(), Score: v.GetScore(), Evidence: v.GetEvidence(),
	}, time.Duration(v.GetTtlSeconds())*time.Second)
	if err != nil && epoch == 0 {
		s.A.Metrics.verdicts.WithLabelValues("report", "invalid").Inc()
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	s.A.xds.quarantined(v.GetWorkload(), v.GetReason(), time.Duration(v.GetTtlSeconds())*time.Second)
	s.A.Metrics.verdicts.WithLabelValues("report", "quarantined").Inc()
	s.A.Log.Warn().Str("workload", v.GetWorkload()).Str("reason", v.GetReason()).Float64("score", v.GetScore()).
		Strs("evidence", v.GetEvidence()).Str("node", v.GetNode()).Str("container", v.GetContainer()).
		Int64("ttl_seconds", v.GetTtlSeconds()).Uint64("epoch", epoch).Msg("workload quarantined")
	if err != nil {
		// Applied here, queued for the other replicas: the caller may retry
		// (a repeated verdict changes nothing) or tell an operator.
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &verdictv1.Ack{Quarantined: true, Epoch: epoch}, nil
}

func validateVerdict(v *verdictv1.Verdict) error {
	switch {
	case strings.TrimSpace(v.GetWorkload()) == "":
		return errors.New("verdict: field \"workload\" is empty")
	case v.GetReason() == "":
		return errors.New("verdict: field \"reason\" is empty")
	case v.GetScore() < 0 || v.GetScore() > 1 || v.GetScore() != v.GetScore():
		return errors.New("verdict: field \"score\" must be within [0, 1]")
	case v.GetTtlSeconds() < 0 || v.GetTtlSeconds() > int64(maxVerdictTTL/time.Second): // compared in seconds: no overflow
		return errors.New("verdict: field \"ttl_seconds\" must be within [0, 604800]")
	}
	return nil
}

// Release implements verdictv1.VerdictsServer.
func (s Verdicts) Release(ctx context.Context, r *verdictv1.ReleaseRequest) (*verdictv1.Ack, error) {
	if r.GetWorkload() == "" {
		return nil, status.Error(codes.InvalidArgument, "release: field \"workload\" is empty")
	}
	q := s.A.Engine.Quarantine()
	was, err := q.Lift(ctx, r.GetWorkload())
	if err != nil {
		s.A.Metrics.verdicts.WithLabelValues("release", "unavailable").Inc()
		return nil, status.Error(codes.Unavailable, "release refused, the workload stays quarantined: "+err.Error())
	}
	s.A.xds.released(r.GetWorkload()) // even if this process forgot it: the xDS server may not have
	s.A.Metrics.verdicts.WithLabelValues("release", map[bool]string{true: "released", false: "not-quarantined"}[was]).Inc()
	s.A.Log.Warn().Str("workload", r.GetWorkload()).Bool("was_quarantined", was).Msg("quarantine released")
	return &verdictv1.Ack{Quarantined: false, Epoch: s.A.Engine.Epoch()}, nil
}

// TokenAuth returns an interceptor that admits calls to the verdict service
// only with "authorization: Bearer <token>", compared in constant time.
func TokenAuth(token []byte) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if !strings.HasPrefix(info.FullMethod, "/"+verdictv1.Verdicts_ServiceDesc.ServiceName+"/") {
			return h(ctx, req)
		}
		md, _ := metadata.FromIncomingContext(ctx)
		if !bearerMatches(md.Get("authorization"), token) {
			return nil, status.Error(codes.Unauthenticated, "verdicts: missing or wrong bearer token")
		}
		return h(ctx, req)
	}
}

func bearerMatches(vals []string, token []byte) bool { return identity.BearerMatches(vals, token) }
