package rpc

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meshward/meshward/api/eaas"
	eaasv1 "github.com/meshward/meshward/api/eaas/v1"
	"github.com/meshward/meshward/extauthz/eaas/coordinator"
	"github.com/meshward/meshward/extauthz/eaas/keymanager"
	"github.com/meshward/meshward/extauthz/eaas/registrar"
)

// KeyService is what a key manager server serves.
type KeyService interface {
	coordinator.Keys
	Rotate(ctx context.Context, pair keymanager.PairID) (uint32, error)
	List(ctx context.Context) ([]keymanager.KeyInfo, error)
}

// KeyManagerServer serves a key manager.
type KeyManagerServer struct {
	eaasv1.UnimplementedKeyManagerServer
	M KeyService
}

func (s KeyManagerServer) GetKey(ctx context.Context, r *eaasv1.KeyRequest) (*eaasv1.Key, error) {
	get := s.M.Key
	if r.GetExistingOnly() {
		get = s.M.Lookup
	}
	k, err := get(ctx, pairOf(r.GetPair()), keymanager.Cipher(r.GetCipher()))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return keyProto(k), nil
}

func (s KeyManagerServer) Rotate(ctx context.Context, r *eaasv1.PairRequest) (*eaasv1.RotateResponse, error) {
	v, err := s.M.Rotate(ctx, pairOf(r.GetPair()))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &eaasv1.RotateResponse{Primary: v}, nil
}

func (s KeyManagerServer) ListKeys(ctx context.Context, _ *eaasv1.ListKeysRequest) (*eaasv1.ListKeysResponse, error) {
	infos, err := s.M.List(ctx)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	out := &eaasv1.ListKeysResponse{}
	for _, in := range infos {
		out.Keys = append(out.Keys, keyInfoProto(in))
	}
	return out, nil
}

// CryptorServer serves a cryptor. Every refusal is the same InvalidArgument
// "does not decrypt": nothing about why a ciphertext failed leaves it.
type CryptorServer struct {
	eaasv1.UnimplementedCryptorServer
	C coordinator.Crypto
}

func (s CryptorServer) run(ctx context.Context, r *eaasv1.CryptRequest,
	op func(context.Context, keymanager.Key, []byte, []byte) ([]byte, error)) (*eaasv1.CryptResponse, error) {
	key, err := keyOf(r.GetKey())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	out, err := op(ctx, key, r.GetAd(), r.GetData())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, "cryptor: does not decrypt or seal")
	}
	return &eaasv1.CryptResponse{Data: out}, nil
}

func (s CryptorServer) Seal(ctx context.Context, r *eaasv1.CryptRequest) (*eaasv1.CryptResponse, error) {
	return s.run(ctx, r, s.C.Seal)
}

func (s CryptorServer) Open(ctx context.Context, r *eaasv1.CryptRequest) (*eaasv1.CryptResponse, error) {
	return s.run(ctx, r, s.C.Open)
}

func (s CryptorServer) Rewrap(ctx context.Context, r *eaasv1.CryptRequest) (*eaasv1.CryptResponse, error) {
	return s.run(ctx, r, s.C.Rewrap)
}

// CoordinatorServer serves a coordinator to registrars, requesters that
// speak gRPC, and operators.
type CoordinatorServer struct {
	eaasv1.UnimplementedCoordinatorServer
	C *coordinator.Coordinator
}

func (s CoordinatorServer) Assign(ctx context.Context, r *eaasv1.Subscriber) (*eaasv1.AssignResponse, error) {
	id, err := s.C.Assign(ctx, subscriberOf(r))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &eaasv1.AssignResponse{Coordinator: id}, nil
}

func (s CoordinatorServer) Process(ctx context.Context, r *eaasv1.Frames) (*eaasv1.Frames, error) {
	frames, err := eaas.SplitFrames(r.GetBatch(), 1<<8, len(r.GetBatch()))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, coordinator.ReasonMalformed+": "+err.Error())
	}
	ans, err := s.C.Process(ctx, CallerID(ctx), frames)
	if err != nil {
		return nil, grpcError(err)
	}
	if ans.ForwardPlaintext {
		return nil, status.Error(codes.Unavailable, coordinator.ReasonUnavailable+": forward plaintext")
	}
	var out []byte
	for _, f := range ans.Frames {
		out = eaas.AppendFrame(out, f.Bits, f.NBits)
	}
	return &eaasv1.Frames{Batch: out}, nil
}

func (s CoordinatorServer) Rewrap(ctx context.Context, r *eaasv1.RewrapRequest) (*eaasv1.RewrapResponse, error) {
	env, err := s.C.Rewrap(ctx, r.GetEnvelope())
	if err != nil {
		return nil, grpcError(err)
	}
	return &eaasv1.RewrapResponse{Envelope: env}, nil
}

func (s CoordinatorServer) Status(context.Context, *eaasv1.StatusRequest) (*eaasv1.StatusResponse, error) {
	out := &eaasv1.StatusResponse{Coordinator: s.C.ID()}
	for _, sub := range s.C.Subscribers() {
		out.Subscribers = append(out.Subscribers, &eaasv1.SubscriberStatus{Id: sub.ID, DeceptionFactor: uint32(sub.Widths.T),
			Cipher: sub.Cipher, OnUnavailable: sub.OnUnavailable, Members: uint32(len(sub.Members))})
	}
	for _, r := range s.C.Replicas() {
		out.Replicas = append(out.Replicas, &eaasv1.Replica{Role: r.Role, Name: r.Name, Healthy: r.Healthy,
			InFlight: r.InFlight, Failures: r.Failures})
	}
	return out, nil
}

// RegistrarServer serves a registrar to operators.
type RegistrarServer struct {
	eaasv1.UnimplementedRegistrarServer
	R *registrar.Registrar
}

func (s RegistrarServer) Register(ctx context.Context, r *eaasv1.RegisterRequest) (*eaasv1.RegisterResponse, error) {
	reg := registrar.Registration{Subscriber: r.GetSubscriber(), Deception: uint8(min(r.GetDeceptionFactor(), 255)),
		Cipher: r.GetCipher(), OnUnavailable: r.GetOnUnavailable(), Members: membersOf(r.GetMembers())}
	if w := r.GetWidths(); w != nil {
		reg.Widths = eaas.Widths{S: narrow(w.GetS()), R: narrow(w.GetR()), N: narrow(w.GetN())}
	}
	sub, err := s.R.Register(ctx, reg)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &eaasv1.RegisterResponse{Coordinator: sub.Coordinator, Token: uint32(sub.Token), Subscriber: subscriberProto(sub)}, nil
}
