// Package rpc carries the EaaS roles over the wire: gRPC servers and clients
// between registrar, coordinator, key manager and cryptor (mutual TLS with
// the mesh CA), and the HTTP endpoints where sidecar filters enrol and send
// their frames. It holds no EaaS logic of its own.
package rpc

import (
	"context"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	eaasv1 "github.com/meshward/meshward/api/eaas/v1"
	"github.com/meshward/meshward/internal/identity"
)

// Access says who may call what. Keys and the cryptography are for
// coordinators only: a workload that reached a key manager's port with a
// valid mesh certificate must still get nothing.
type Access struct {
	// Coordinators are the SPIFFE IDs of coordinators (key manager, cryptor).
	Coordinators []string
	// Registrars are the SPIFFE IDs allowed to assign subscribers.
	Registrars []string
	// OperatorToken admits operators (register, rewrap, status, keys).
	OperatorToken []byte
	// MaxMemberCalls bounds the calls one mesh identity may have open at
	// once on methods any member may call (Coordinator.Process), each up to
	// the server's largest message (default 2); MaxMemberCallsTotal bounds
	// them all together (default 16).
	MaxMemberCalls, MaxMemberCallsTotal int
}

type rule int

const (
	anyMember rule = iota + 1 // a verified mesh identity; the coordinator checks membership
	coordinatorOnly
	registrarOnly
	operatorOnly
	operatorOrCoordinator
)

var rules = map[string]rule{
	eaasv1.Registrar_Register_FullMethodName:  operatorOnly,
	eaasv1.Coordinator_Assign_FullMethodName:  registrarOnly,
	eaasv1.Coordinator_Process_FullMethodName: anyMember,
	eaasv1.Coordinator_Rewrap_FullMethodName:  operatorOnly,
	eaasv1.Coordinator_Status_FullMethodName:  operatorOnly,
	eaasv1.KeyManager_GetKey_FullMethodName:   coordinatorOnly,
	eaasv1.KeyManager_Rotate_FullMethodName:   operatorOrCoordinator,
	eaasv1.KeyManager_ListKeys_FullMethodName: operatorOrCoordinator,
	eaasv1.Cryptor_Seal_FullMethodName:        coordinatorOnly,
	eaasv1.Cryptor_Open_FullMethodName:        coordinatorOnly,
	eaasv1.Cryptor_Rewrap_FullMethodName:      coordinatorOnly,
}

// ServerOptions are what an EaaS gRPC server needs: the tap that refuses a
// call before its message is read, and the interceptor behind it.
func (a Access) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.InTapHandle(a.Tap()), grpc.ChainUnaryInterceptor(a.Interceptor())}
}

// Tap refuses, from the call's headers and before a byte of its message is
// read, every EaaS call whose caller the method's rule does not admit, and
// holds each identity to its share of member calls: gRPC reads a whole
// message before any interceptor runs, so without it a workload with no
// business here could make the server hold its largest message on every
// stream it opens.
func (a Access) Tap() tap.ServerInHandle {
	return a.tap(newCallLimit(orDefault(a.MaxMemberCalls, 2), orDefault(a.MaxMemberCallsTotal, 16)))
}

func (a Access) tap(lim *callLimit) tap.ServerInHandle {
	return func(ctx context.Context, info *tap.Info) (context.Context, error) {
		if !strings.HasPrefix(info.FullMethodName, eaasPrefix) {
			return ctx, nil
		}
		if err := a.admit(ctx, info.FullMethodName); err != nil {
			return ctx, err
		}
		if rules[info.FullMethodName] != anyMember {
			return ctx, nil
		}
		caller := CallerID(ctx)
		if !lim.take(caller) {
			return ctx, status.Errorf(codes.ResourceExhausted, "%s: too many calls open", info.FullMethodName)
		}
		// The stream's context ends with the stream, however it ends.
		context.AfterFunc(ctx, func() { lim.release(caller) })
		return ctx, nil
	}
}

func orDefault(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}

const eaasPrefix = "/meshward.eaas.v1."

// Interceptor refuses every EaaS call whose caller the method's rule does
// not admit; methods of other services pass untouched, methods of the EaaS
// services without a rule are refused. Tap does the same earlier; this
// also covers servers (and in-process calls) that run without it.
func (a Access) Interceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if !strings.HasPrefix(info.FullMethod, eaasPrefix) {
			return h(ctx, req)
		}
		if err := a.admit(ctx, info.FullMethod); err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
}

func (a Access) admit(ctx context.Context, method string) error {
	state, _ := identity.GRPCPeer(ctx)
	caller := identity.Verified(state)
	md, _ := metadata.FromIncomingContext(ctx)
	operator := identity.BearerMatches(md.Get("authorization"), a.OperatorToken)
	ok := false
	switch rules[method] {
	case anyMember:
		ok = caller != ""
	case coordinatorOnly:
		ok = caller != "" && slices.Contains(a.Coordinators, caller)
	case registrarOnly:
		ok = operator || caller != "" && slices.Contains(a.Registrars, caller)
	case operatorOnly:
		ok = operator
	case operatorOrCoordinator:
		ok = operator || caller != "" && slices.Contains(a.Coordinators, caller)
	}
	if ok {
		return nil
	}
	if caller == "" && !operator {
		return status.Errorf(codes.Unauthenticated, "%s: no verified mesh certificate or operator token", method)
	}
	return status.Errorf(codes.PermissionDenied, "%s: caller %q may not call it", method, caller)
}

// CallerID is the verified SPIFFE ID of a gRPC call's client, or "".
func CallerID(ctx context.Context) string {
	state, _ := identity.GRPCPeer(ctx)
	return identity.Verified(state)
}
