package rpc

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/meshward/meshward/api/eaas"
	eaasv1 "github.com/meshward/meshward/api/eaas/v1"
	"github.com/meshward/meshward/extauthz/eaas/coordinator"
	"github.com/meshward/meshward/extauthz/eaas/cryptor"
	"github.com/meshward/meshward/extauthz/eaas/keymanager"
	"github.com/meshward/meshward/extauthz/eaas/keystore"
	"github.com/meshward/meshward/extauthz/eaas/registrar"
	"github.com/meshward/meshward/extauthz/eaas/subscriber"
	"github.com/meshward/meshward/internal/identity"
)

const (
	idA          = "spiffe://cluster.local/ns/shop/sa/a"
	idB          = "spiffe://cluster.local/ns/shop/sa/b"
	idC          = "spiffe://cluster.local/ns/shop/sa/c"
	idOutsider   = "spiffe://cluster.local/ns/evil/sa/x"
	idCoord      = "spiffe://cluster.local/ns/meshward-system/sa/eaas-coordinator"
	idRegistrar  = "spiffe://cluster.local/ns/meshward-system/sa/eaas-registrar"
	idServer     = "spiffe://cluster.local/ns/meshward-system/sa/extauthz"
	operatorTok  = "operator-token-7d1f0c5e9a"
	subscriberID = 54
)

// shop is a subscriber with meshward's default widths, t=2 and token 1.
func shop() subscriber.Subscriber {
	return subscriber.Subscriber{ID: subscriberID, Widths: eaas.Widths{S: 16, R: 16, N: 32, T: 2}, Token: 1,
		Cipher: "aes256-gcm", OnUnavailable: subscriber.FailClosed, Members: []subscriber.Member{
			{Requester: 1, Principal: "cluster.local/ns/shop/sa/a", Hosts: []string{"a"}},
			{Requester: 2, Principal: "cluster.local/ns/shop/sa/b", Hosts: []string{"b"}},
			{Requester: 3, Principal: "cluster.local/ns/shop/sa/c", Hosts: []string{"c"}},
		}}
}

// world is a coordinator with a local key manager and cryptor, and a CA.
type world struct {
	ca    *identity.CA
	c     *coordinator.Coordinator
	keys  *keymanager.Manager
	crypt *cryptor.Cryptor
}

func newWorld(t testing.TB, keys ...coordinator.Keys) *world {
	t.Helper()
	ca, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	kek := filepath.Join(t.TempDir(), "kek.json")
	if err := keymanager.GenerateKEKFile(kek); err != nil {
		t.Fatal(err)
	}
	aead, err := keymanager.LoadKEK(kek)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{ca: ca, keys: keymanager.New(keystore.NewMemory(), aead), crypt: cryptor.New(64)}
	var k coordinator.Keys = w.keys
	if len(keys) > 0 {
		k = keys[0]
	}
	w.c, err = coordinator.New(coordinator.Config{ID: "coordinator-0",
		Keys:     coordinator.NewPool[coordinator.Keys]("keymanager", &coordinator.Replica[coordinator.Keys]{Name: "km", Client: k}),
		Cryptors: coordinator.NewPool[coordinator.Crypto]("cryptor", &coordinator.Replica[coordinator.Crypto]{Name: "cr", Client: coordinator.LocalCrypto{C: w.crypt}})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.c.Assign(context.Background(), shop()); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) cert(t testing.TB, id string) tls.Certificate {
	t.Helper()
	c, err := w.ca.Issue(id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// serverTLS is what the roles' gRPC port and the check port use: client
// certificates verified when given (operators come with a token instead).
func (w *world) serverTLS(t testing.TB) *tls.Config {
	cfg := w.ca.ServerTLS(w.cert(t, idServer))
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	return cfg
}

// clientTLS presents id's certificate, or none when id is "".
func (w *world) clientTLS(t testing.TB, id string) *tls.Config {
	if id == "" {
		return &tls.Config{RootCAs: w.ca.Pool, MinVersion: tls.VersionTLS13}
	}
	return w.ca.ClientTLS(w.cert(t, id))
}

// countingListener counts the bytes the server reads from its clients.
type countingListener struct {
	net.Listener
	read *atomic.Int64
}

type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{Conn: c, read: l.read}, nil
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.read.Add(int64(n))
	return n, err
}

const bigMessage = 64 << 20

// grpcServer serves every role with the given options; read counts what
// it read from clients.
func (w *world) grpcServer(t testing.TB, opts ...grpc.ServerOption) (addr string, read *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	read = &atomic.Int64{}
	opts = append(opts, grpc.Creds(credentials.NewTLS(w.serverTLS(t))), grpc.MaxRecvMsgSize(bigMessage+1<<20))
	s := grpc.NewServer(opts...)
	eaasv1.RegisterKeyManagerServer(s, KeyManagerServer{M: w.keys})
	eaasv1.RegisterCryptorServer(s, CryptorServer{C: coordinator.LocalCrypto{C: w.crypt}})
	eaasv1.RegisterCoordinatorServer(s, CoordinatorServer{C: w.c})
	eaasv1.RegisterRegistrarServer(s, RegistrarServer{R: registrar.New(w.c)})
	go func() { _ = s.Serve(countingListener{Listener: l, read: read}) }()
	t.Cleanup(s.Stop)
	return l.Addr().String(), read
}

func (w *world) dial(t testing.TB, addr, id string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(w.clientTLS(t, id))),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(bigMessage+1<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func testAccess() Access {
	return Access{Coordinators: []string{idCoord}, Registrars: []string{idRegistrar}, OperatorToken: []byte(operatorTok)}
}
