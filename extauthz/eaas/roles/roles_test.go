package roles

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eaasv1 "github.com/meshward/meshward/api/eaas/v1"
	"github.com/meshward/meshward/extauthz/eaas/rpc"
)

// Scenario α: one process runs all four roles.
func TestScenarioAlpha(t *testing.T) {
	m := newMesh(t)
	r := m.start("eaas-0", All, nil)
	reg := m.register(r.Addr.String(), 54, 2)
	if reg.GetCoordinator() != "eaas-0" || reg.GetToken() > 3 {
		t.Fatalf("registration %v", reg)
	}
	base := m.requesters(r)
	a, b := m.workload(base, idA), m.workload(base, idB)
	roundTrip(t, a, b, []byte("password=hunter2"))
	roundTrip(t, a, b, bytes.Repeat([]byte("x"), 1<<20))
}

// Scenario β: one coordinator, two key managers, two cryptors, each its
// own replica; a cryptor dies and requests move to the survivor.
func TestScenarioBetaSurvivesAReplica(t *testing.T) {
	m := newMesh(t)
	km1, km2 := m.start("km-1", []string{KeyManager}, nil), m.start("km-2", []string{KeyManager}, nil)
	cr1, cr2 := m.start("cr-1", []string{Cryptor}, nil), m.start("cr-2", []string{Cryptor}, nil)
	co := m.start("co-1", []string{Registrar, Coordinator}, func(c *Config) {
		c.KeyManagers = []string{km1.Addr.String(), km2.Addr.String()}
		c.Cryptors = []string{cr1.Addr.String(), cr2.Addr.String()}
	})
	m.register(co.Addr.String(), 7, 3)
	base := m.requesters(co)
	a, b := m.workload(base, idA), m.workload(base, idB)
	for range 8 {
		roundTrip(t, a, b, []byte("before"))
	}
	cr1.Stop()
	km2.Stop()
	for range 8 {
		roundTrip(t, a, b, []byte("after"))
	}
	var used int
	for _, s := range co.Coordinator.Replicas() {
		if s.Failures > 0 {
			used++
		}
	}
	if used == 0 {
		t.Fatal("no replica failure was counted")
	}
}

// With every cryptor gone, meshward refuses (fail-closed) with a reason.
func TestNoReplicaFailsClosed(t *testing.T) {
	m := newMesh(t)
	cr := m.start("cr-1", []string{Cryptor}, nil)
	co := m.start("co-1", []string{Registrar, Coordinator, KeyManager}, func(c *Config) {
		c.Cryptors = []string{cr.Addr.String()}
	})
	m.register(co.Addr.String(), 7, 1)
	base := m.requesters(co)
	a := m.workload(base, idA)
	cr.Stop()
	_, err := a.encrypt(2, []byte("x"))
	var ref *rpc.Refusal
	if !errors.As(err, &ref) || ref.Status != 503 || ref.Reason != "eaas-unavailable" {
		t.Fatalf("got %v, want 503 eaas-unavailable", err)
	}
}

// A mesh workload that reaches a key manager's port gets no key, and one
// that stands up a "cryptor" at a replica's address gets no plaintext.
func TestKeysAreForCoordinatorsOnly(t *testing.T) {
	m := newMesh(t)
	km := m.start("km-1", []string{KeyManager}, nil)
	cert, err := m.ca.Issue(idA)
	if err != nil {
		t.Fatal(err)
	}
	cc := dial(t, km.Addr.String(), m.ca.ClientTLS(cert))
	_, err = eaasv1.NewKeyManagerClient(cc).GetKey(t.Context(), &eaasv1.KeyRequest{Pair: &eaasv1.Pair{Subscriber: 7, A: 1, B: 2}})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a workload's GetKey: %v, want PermissionDenied", err)
	}
	// A coordinator pointed at a workload posing as a cryptor refuses to talk.
	rogue := m.start("rogue", []string{Cryptor}, func(c *Config) {
		c.ServerTLS = m.ca.ServerTLS(cert)
	})
	co := m.start("co-1", []string{Registrar, Coordinator, KeyManager}, func(c *Config) {
		c.Cryptors = []string{rogue.Addr.String()}
	})
	m.register(co.Addr.String(), 7, 1)
	a := m.workload(m.requesters(co), idA)
	if _, err := a.encrypt(2, []byte("secret")); err == nil {
		t.Fatal("the coordinator sent a request to a workload posing as a cryptor")
	}
}
