package roles

import (
	"errors"
	"testing"

	eaasv1 "github.com/meshward/meshward/api/eaas/v1"
	"github.com/meshward/meshward/extauthz/eaas/keystore/etcdtest"
)

func startEtcd(t *testing.T) *etcdtest.Server {
	srv, err := etcdtest.Start(t.TempDir())
	if errors.Is(err, etcdtest.ErrMissing) {
		t.Skip("etcd is not installed (make etcd installs Debian's etcd-server)")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Kill)
	return srv
}

// Replicas on etcd share keys, subscribers and sequence reservations: two
// coordinators behind one registrar each serve the subscriber assigned to
// them, with key managers that each hold their own client of the store; a
// key manager dies and the other serves the keys the first one made.
func TestReplicasShareKeysThroughEtcd(t *testing.T) {
	m := newMesh(t)
	srv := startEtcd(t)
	onEtcd := func(c *Config) {
		cfg := srv.Config()
		c.Store, c.Etcd = nil, &cfg
	}
	km1, km2 := m.start("km-1", []string{KeyManager}, onEtcd), m.start("km-2", []string{KeyManager}, onEtcd)
	cr := m.start("cr-1", []string{Cryptor}, nil)
	coordinator := func(name string) *Running {
		return m.start(name, []string{Coordinator}, func(c *Config) {
			onEtcd(c)
			c.KeyManagers = []string{km1.Addr.String(), km2.Addr.String()}
			c.Cryptors = []string{cr.Addr.String()}
		})
	}
	co1, co2 := coordinator("co-1"), coordinator("co-2")
	reg := m.start("reg", []string{Registrar}, func(c *Config) {
		c.Store = nil
		c.Coordinators = []string{co1.Addr.String(), co2.Addr.String()}
	})
	first := m.register(reg.Addr.String(), 1, 2)
	second := registerOther(t, m, reg.Addr.String())
	if first.GetCoordinator() == second.GetCoordinator() {
		t.Fatalf("both subscribers went to %s", first.GetCoordinator())
	}
	base := map[string]string{"co-1": m.requesters(co1), "co-2": m.requesters(co2)}[first.GetCoordinator()]
	a, b := m.workload(base, idA), m.workload(base, idB)
	env, err := a.encrypt(b.s.E.Requester, []byte("made before km-1 died"))
	if err != nil {
		t.Fatal(err)
	}
	km1.Stop()
	for range 4 {
		roundTrip(t, a, b, []byte("after"))
	}
	if got, err := b.decrypt(a.s.E.Requester, env); err != nil || string(got) != "made before km-1 died" {
		t.Fatalf("an envelope sealed before km-1 died: %q, %v", got, err)
	}
}

func registerOther(t *testing.T, m *mesh, addr string) *eaasv1.RegisterResponse {
	cc, ctx := m.operator(addr)
	resp, err := eaasv1.NewRegistrarClient(cc).Register(ctx, &eaasv1.RegisterRequest{Subscriber: 2, DeceptionFactor: 1,
		Members: []*eaasv1.Member{{Principal: "cluster.local/ns/bank/sa/x"}, {Principal: "cluster.local/ns/bank/sa/y"}}})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
