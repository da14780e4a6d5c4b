package server

import (
	"context"
	"net"
	"strconv"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"

	"github.com/meshward/meshward/extauthz/policy"
)

// ExtAuthz serves envoy.service.auth.v3.Authorization, so that Istio's CUSTOM
// action (or any Envoy ext_authz filter) gets the same answers as the filter.
type ExtAuthz struct {
	authv3.UnimplementedAuthorizationServer
	A *Authorizer
}

// DestinationExtension is the ext_authz context extension that names the
// destination workload when the destination has no principal.
const DestinationExtension = "meshward_destination"

// Check implements authv3.AuthorizationServer.
func (s ExtAuthz) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	start := time.Now()
	r := EnvoyRequest(req)
	state, _ := grpcPeer(ctx)
	if reason, err := s.A.vouch(verifiedID(state), r); err != nil {
		// A denial, not an error: Envoy's failure_mode_allow must not turn a
		// refused caller into an allowed request.
		s.A.refuse("grpc", reason, err)
		return denied(reason, codes.PermissionDenied, typev3.StatusCode_Forbidden), nil
	}
	d := s.A.decide("grpc", r, start)
	if d.Allow {
		return &authv3.CheckResponse{
			Status: &rpcstatus.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
				// The upstream learns which rule allowed the request, as from the filter.
				Headers: []*corev3.HeaderValueOption{{
					Header:       &corev3.HeaderValue{Key: "x-meshward-rule", Value: d.Rule},
					AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
				}},
			}},
		}, nil
	}
	code, status := codes.PermissionDenied, typev3.StatusCode_Forbidden
	if d.Status == 429 {
		code, status = codes.ResourceExhausted, typev3.StatusCode_TooManyRequests
	}
	return denied(d.Reason, code, status), nil
}

func denied(reason string, code codes.Code, status typev3.StatusCode) *authv3.CheckResponse {
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(code), Message: reason},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status: &typev3.HttpStatus{Code: status},
			Headers: []*corev3.HeaderValueOption{{
				Header: &corev3.HeaderValue{Key: "x-meshward-reason", Value: reason},
			}},
			Body: "meshward: denied: " + reason + "\n",
		}},
	}
}

// Context extensions that name the destination where Envoy's attributes do not.
const (
	NamespaceExtension = "meshward_destination_namespace"
	ServiceExtension   = "meshward_destination_service"
)

// EnvoyRequest maps Envoy's attribute context onto the engine's facts. Envoy
// fills source.principal from the peer certificate's URI SAN and
// destination.labels from the destination workload's node metadata.
func EnvoyRequest(req *authv3.CheckRequest) *policy.Request {
	attrs := req.GetAttributes()
	http := attrs.GetRequest().GetHttp()
	ext := attrs.GetContextExtensions()
	r := &policy.Request{
		SourcePrincipal:      attrs.GetSource().GetPrincipal(),
		SourceAddress:        socketAddress(attrs.GetSource().GetAddress()),
		Destination:          attrs.GetDestination().GetPrincipal(),
		DestinationNamespace: ext[NamespaceExtension],
		DestinationLabels:    attrs.GetDestination().GetLabels(),
		DestinationService:   ext[ServiceExtension],
		DestinationAddress:   socketAddress(attrs.GetDestination().GetAddress()),
		Host:                 http.GetHost(),
		Method:               http.GetMethod(),
		Path:                 http.GetPath(),
		Headers:              http.GetHeaders(),
		SNI:                  attrs.GetTlsSession().GetSni(),
		RequestPrincipal:     jwtPrincipal(attrs),
	}
	if d := ext[DestinationExtension]; d != "" {
		r.Destination = d
	}
	if r.Destination == "" {
		r.Destination = http.GetHost()
	}
	return r
}

// AuthnMetadata is the dynamic metadata namespace where Istio's
// authentication filter leaves a validated JWT's principal (<iss>/<sub>),
// under the key RequestPrincipalKey; the filter reads the same value.
const (
	AuthnMetadata       = "istio_authn"
	RequestPrincipalKey = "request.auth.principal"
)

func jwtPrincipal(attrs *authv3.AttributeContext) string {
	md := attrs.GetMetadataContext().GetFilterMetadata()[AuthnMetadata]
	return md.GetFields()[RequestPrincipalKey].GetStringValue()
}

func socketAddress(a *corev3.Address) string {
	sa := a.GetSocketAddress()
	if sa == nil {
		return ""
	}
	return net.JoinHostPort(sa.GetAddress(), strconv.FormatUint(uint64(sa.GetPortValue()), 10))
}
