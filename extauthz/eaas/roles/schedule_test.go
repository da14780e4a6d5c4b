package roles

import (
	"testing"
	"time"
)

// A key manager with a rotation schedule gives an old pair a new primary
// by itself, and what was sealed before still opens.
func TestScheduledRotation(t *testing.T) {
	m := newMesh(t)
	r := m.start("eaas-0", All, func(c *Config) { c.RotateEvery = time.Millisecond })
	m.register(r.Addr.String(), 54, 2)
	base := m.requesters(r)
	a, b := m.workload(base, idA), m.workload(base, idB)
	env, err := a.encrypt(b.s.E.Requester, []byte("before the rotation"))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		infos, err := r.Keys.List(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(infos) == 1 && infos[0].Primary > 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no scheduled rotation in a minute: %+v", infos)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got, err := b.decrypt(a.s.E.Requester, env); err != nil || string(got) != "before the rotation" {
		t.Fatalf("after the rotation: %q, %v", got, err)
	}
	roundTrip(t, a, b, []byte("after the rotation"))
}
