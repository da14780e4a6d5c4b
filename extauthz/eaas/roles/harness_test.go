package roles

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
	"github.com/tink-crypto/tink-go/v2/tink"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	eaasv1 "github.com/meshward/meshward/api/eaas/v1"
	"github.com/meshward/meshward/extauthz/eaas/keymanager"
	"github.com/meshward/meshward/extauthz/eaas/keystore"
	"github.com/meshward/meshward/extauthz/eaas/requester"
	"github.com/meshward/meshward/extauthz/eaas/rpc"
	"github.com/meshward/meshward/internal/identity"
)

var (
	roleID  = identity.SPIFFE("meshward-system", "meshward-authorizer")
	idA     = identity.SPIFFE("shop", "a")
	idB     = identity.SPIFFE("shop", "b")
	opToken = []byte("operator-token-0123456789")
)

type mesh struct {
	t    *testing.T
	ca   *identity.CA
	role tls.Certificate
	kek  tink.AEAD
	keys keystore.Store // shared by key manager replicas, as etcd would be
}

func newMesh(t *testing.T) *mesh {
	ca, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	role, err := ca.Issue(roleID)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kek.json")
	if err := keymanager.GenerateKEKFile(path); err != nil {
		t.Fatal(err)
	}
	kek, err := keymanager.LoadKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	return &mesh{t: t, ca: ca, role: role, kek: kek, keys: keystore.NewMemory()}
}

// start runs a replica with roles on its own listener.
func (m *mesh) start(name string, rs []string, mod func(*Config)) *Running {
	m.t.Helper()
	cfg := Config{Roles: rs, Name: name, Addr: "127.0.0.1:0", ServerTLS: m.ca.ServerTLS(m.role),
		ClientTLS: m.ca.ClientTLS(m.role), Store: m.keys, KEK: m.kek, Log: zerolog.Nop(),
		Access: rpc.Access{Coordinators: []string{roleID}, Registrars: []string{roleID}, OperatorToken: opToken}}
	if mod != nil {
		mod(&cfg)
	}
	r, err := Start(cfg)
	if err != nil {
		m.t.Fatal(err)
	}
	m.t.Cleanup(r.Stop)
	return r
}

// requesters serves a coordinator's requester endpoints over mutual TLS.
func (m *mesh) requesters(r *Running) string {
	mux := http.NewServeMux()
	r.Mount(mux)
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = m.ca.ServerTLS(m.role)
	srv.TLS.ClientAuth = tls.VerifyClientCertIfGiven
	srv.StartTLS()
	m.t.Cleanup(srv.Close)
	return srv.URL
}

// operator dials the roles' gRPC API with the operator's token.
func (m *mesh) operator(addr string) (*grpc.ClientConn, context.Context) {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: m.ca.Pool, MinVersion: tls.VersionTLS13})))
	if err != nil {
		m.t.Fatal(err)
	}
	m.t.Cleanup(func() { cc.Close() })
	return cc, metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+string(opToken))
}

func (m *mesh) register(addr string, sub uint32, deception uint32) *eaasv1.RegisterResponse {
	m.t.Helper()
	cc, ctx := m.operator(addr)
	resp, err := eaasv1.NewRegistrarClient(cc).Register(ctx, &eaasv1.RegisterRequest{Subscriber: sub, DeceptionFactor: deception,
		Members: []*eaasv1.Member{{Principal: "cluster.local/ns/shop/sa/a", Hosts: []string{"a"}},
			{Principal: "cluster.local/ns/shop/sa/b", Hosts: []string{"b"}}}})
	if err != nil {
		m.t.Fatal(err)
	}
	return resp
}

// workload is a requester with its own mesh certificate.
type workload struct {
	t *testing.T
	c rpc.RequesterClient
	s *requester.Session
}

func (m *mesh) workload(base, id string) *workload {
	m.t.Helper()
	cert, err := m.ca.Issue(id)
	if err != nil {
		m.t.Fatal(err)
	}
	c := rpc.RequesterClient{Base: base, HTTP: &http.Client{Transport: &http.Transport{TLSClientConfig: m.ca.ClientTLS(cert)}}}
	e, err := c.Enrol(context.Background())
	if err != nil {
		m.t.Fatal(err)
	}
	return &workload{t: m.t, c: c, s: requester.New(e)}
}

func (w *workload) encrypt(pair uint32, data []byte) ([]byte, error) {
	batch, err := w.s.EncryptBatch(pair, data)
	if err != nil {
		return nil, err
	}
	ans, err := w.c.Send(context.Background(), batch)
	if err != nil {
		return nil, err
	}
	return w.s.Envelope(ans)
}

func (w *workload) decrypt(pair uint32, env []byte) ([]byte, error) {
	batch, err := w.s.DecryptBatch(pair, env)
	if err != nil {
		return nil, err
	}
	ans, err := w.c.Send(context.Background(), batch)
	if err != nil {
		return nil, err
	}
	return w.s.Plaintext(ans)
}

// roundTrip sends data from a to b and checks what b reads.
func roundTrip(t *testing.T, a, b *workload, data []byte) {
	t.Helper()
	env, err := a.encrypt(b.s.E.Requester, data)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(env, data) {
		t.Fatal("the envelope holds the plaintext")
	}
	if _, err := b.s.Admit(env, "cluster.local/ns/shop/sa/a"); err != nil {
		t.Fatal(err)
	}
	got, err := b.decrypt(a.s.E.Requester, env)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("b read %q", got)
	}
}

func dial(t *testing.T, addr string, c *tls.Config) *grpc.ClientConn {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(c)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}
