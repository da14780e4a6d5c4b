package rpc

import (
	"context"

	"google.golang.org/grpc"

	eaasv1 "github.com/meshward/meshward/api/eaas/v1"
	"github.com/meshward/meshward/extauthz/eaas/keymanager"
	"github.com/meshward/meshward/extauthz/eaas/subscriber"
)

// RemoteKeys is a key manager replica reached over gRPC.
type RemoteKeys struct{ C eaasv1.KeyManagerClient }

// NewRemoteKeys wraps a connection to a key manager.
func NewRemoteKeys(conn grpc.ClientConnInterface) RemoteKeys {
	return RemoteKeys{C: eaasv1.NewKeyManagerClient(conn)}
}

func (r RemoteKeys) Key(ctx context.Context, pair keymanager.PairID, c keymanager.Cipher) (keymanager.Key, error) {
	return r.get(ctx, &eaasv1.KeyRequest{Pair: pairProto(pair), Cipher: string(c)})
}

func (r RemoteKeys) Lookup(ctx context.Context, pair keymanager.PairID, c keymanager.Cipher) (keymanager.Key, error) {
	return r.get(ctx, &eaasv1.KeyRequest{Pair: pairProto(pair), Cipher: string(c), ExistingOnly: true})
}

func (r RemoteKeys) get(ctx context.Context, req *eaasv1.KeyRequest) (keymanager.Key, error) {
	k, err := r.C.GetKey(ctx, req)
	if err != nil {
		return keymanager.Key{}, remote(err)
	}
	return keyOf(k)
}

// RemoteCrypto is a cryptor replica reached over gRPC.
type RemoteCrypto struct{ C eaasv1.CryptorClient }

// NewRemoteCrypto wraps a connection to a cryptor.
func NewRemoteCrypto(conn grpc.ClientConnInterface) RemoteCrypto {
	return RemoteCrypto{C: eaasv1.NewCryptorClient(conn)}
}

func cryptReq(k keymanager.Key, ad, data []byte) *eaasv1.CryptRequest {
	return &eaasv1.CryptRequest{Key: keyProto(k), Ad: ad, Data: data}
}

func (r RemoteCrypto) Seal(ctx context.Context, k keymanager.Key, ad, data []byte) ([]byte, error) {
	out, err := r.C.Seal(ctx, cryptReq(k, ad, data))
	return out.GetData(), remote(err)
}

func (r RemoteCrypto) Open(ctx context.Context, k keymanager.Key, ad, data []byte) ([]byte, error) {
	out, err := r.C.Open(ctx, cryptReq(k, ad, data))
	return out.GetData(), remote(err)
}

func (r RemoteCrypto) Rewrap(ctx context.Context, k keymanager.Key, ad, data []byte) ([]byte, error) {
	out, err := r.C.Rewrap(ctx, cryptReq(k, ad, data))
	return out.GetData(), remote(err)
}

// RemoteCoordinator is a coordinator a registrar assigns subscribers to.
type RemoteCoordinator struct{ C eaasv1.CoordinatorClient }

// NewRemoteCoordinator wraps a connection to a coordinator.
func NewRemoteCoordinator(conn grpc.ClientConnInterface) RemoteCoordinator {
	return RemoteCoordinator{C: eaasv1.NewCoordinatorClient(conn)}
}

func (r RemoteCoordinator) Assign(ctx context.Context, s subscriber.Subscriber) (string, error) {
	a, err := r.C.Assign(ctx, subscriberProto(s))
	if err != nil {
		// A refusal stays one, so the registrar does not try it elsewhere.
		return "", remote(err)
	}
	return a.GetCoordinator(), nil
}
