package rpc

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	eaasv1 "github.com/meshward/meshward/api/eaas/v1"
	"github.com/meshward/meshward/extauthz/eaas/coordinator"
	"github.com/meshward/meshward/extauthz/eaas/registrar"
)

// FuzzServers hands every EaaS gRPC method a hostile message (the bytes are
// the wire form of its request type): each answers or refuses with a
// status, never panics, and never answers a refusal with codes.Unknown.
func FuzzServers(f *testing.F) {
	w := newWorld(f)
	km := KeyManagerServer{M: w.keys}
	cr := CryptorServer{C: coordinator.LocalCrypto{C: w.crypt}}
	co := CoordinatorServer{C: w.c}
	rg := RegistrarServer{R: registrar.New(w.c)}
	seeds := []proto.Message{
		&eaasv1.KeyRequest{Pair: &eaasv1.Pair{Subscriber: 54, A: 1, B: 2}, Cipher: "aes256-gcm"},
		&eaasv1.CryptRequest{Key: &eaasv1.Key{Cipher: "aes256-gcm", Material: []byte{1, 2, 3}}, Data: []byte("x")},
		&eaasv1.Subscriber{Id: 9, Widths: &eaasv1.Widths{S: 8, R: 5, N: 12, T: 2}, Cipher: "aes256-gcm", OnUnavailable: "fail-closed",
			Members: []*eaasv1.Member{{Requester: 1, Principal: "cluster.local/ns/x/sa/y"}}},
		&eaasv1.RegisterRequest{Subscriber: 77, DeceptionFactor: 2, Members: []*eaasv1.Member{{Principal: "cluster.local/ns/z/sa/q"}}},
		&eaasv1.RewrapRequest{Envelope: []byte("MWE1\x36\x01\x02\x09\x01\x01")},
		&eaasv1.Frames{Batch: []byte{0x2f, 0x00}},
	}
	for i, m := range seeds {
		b, _ := proto.Marshal(m)
		f.Add(uint8(i), b)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, method uint8, b []byte) {
		var err error
		switch method % 10 {
		case 0:
			err = callWith(b, &eaasv1.KeyRequest{}, func(m *eaasv1.KeyRequest) error { _, e := km.GetKey(ctx, m); return e })
		case 1:
			err = callWith(b, &eaasv1.PairRequest{}, func(m *eaasv1.PairRequest) error { _, e := km.Rotate(ctx, m); return e })
		case 2:
			err = callWith(b, &eaasv1.CryptRequest{}, func(m *eaasv1.CryptRequest) error { _, e := cr.Seal(ctx, m); return e })
		case 3:
			err = callWith(b, &eaasv1.CryptRequest{}, func(m *eaasv1.CryptRequest) error { _, e := cr.Open(ctx, m); return e })
		case 4:
			err = callWith(b, &eaasv1.CryptRequest{}, func(m *eaasv1.CryptRequest) error { _, e := cr.Rewrap(ctx, m); return e })
		case 5:
			err = callWith(b, &eaasv1.Subscriber{}, func(m *eaasv1.Subscriber) error { _, e := co.Assign(ctx, m); return e })
		case 6:
			err = callWith(b, &eaasv1.Frames{}, func(m *eaasv1.Frames) error { _, e := co.Process(ctx, m); return e })
		case 7:
			err = callWith(b, &eaasv1.RewrapRequest{}, func(m *eaasv1.RewrapRequest) error { _, e := co.Rewrap(ctx, m); return e })
		case 8:
			err = callWith(b, &eaasv1.RegisterRequest{}, func(m *eaasv1.RegisterRequest) error { _, e := rg.Register(ctx, m); return e })
		case 9:
			err = callWith(b, &eaasv1.StatusRequest{}, func(m *eaasv1.StatusRequest) error { _, e := co.Status(ctx, m); return e })
		}
		if err != nil && status.Code(err) == codes.Unknown {
			t.Fatalf("method %d refused without a status: %v", method%10, err)
		}
	})
}

// callWith decodes b as the request type (gRPC would refuse what does not
// decode) and runs the method.
func callWith[M proto.Message](b []byte, m M, run func(M) error) error {
	if proto.Unmarshal(b, m) != nil {
		return nil
	}
	return run(m)
}
