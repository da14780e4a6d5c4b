package agent

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	verdictv1 "github.com/meshward/meshward/api/verdict/v1"
	"github.com/meshward/meshward/ebpf-agent/collector"
	"github.com/meshward/meshward/ebpf-agent/profile"
	"github.com/meshward/meshward/ebpf-agent/store"
)

// script is a Source that replays events: the agent's logic without the
// kernel (the collector and the whole path are covered by root tests).
type script struct {
	monitored map[uint64]bool
	events    []collector.Event
}

func (s *script) Monitor(id uint64) error   { s.monitored[id] = true; return nil }
func (s *script) Unmonitor(id uint64) error { delete(s.monitored, id); return nil }

func (s *script) Run(ctx context.Context, fn func(collector.Event)) error {
	for _, ev := range s.events {
		if s.monitored[ev.CgroupID] {
			fn(ev)
		}
	}
	return nil
}

type reports struct {
	mu sync.Mutex
	vs []*verdictv1.Verdict
}

func (r *reports) Report(_ context.Context, v *verdictv1.Verdict) (uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.vs = append(r.vs, v)
	return uint64(len(r.vs)), nil
}

func (r *reports) wait(t *testing.T, n int) []*verdictv1.Verdict {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		r.mu.Lock()
		got := append([]*verdictv1.Verdict(nil), r.vs...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
	}
	t.Fatalf("fewer than %d verdicts", n)
	return nil
}

const orders = "spiffe://cluster.local/ns/shop/sa/orders"

// serve is an HTTP server's steady loop, process by process.
func serve(cg uint64, pid uint32, rounds int, t0 uint64) (evs []collector.Event) {
	for i := 0; i < rounds; i++ {
		for _, nr := range []uint32{232, 43, 45, 257, 5, 40, 44, 3} {
			t0 += 1000
			evs = append(evs, collector.Event{KtimeNs: t0, CgroupID: cg, PID: pid, TID: pid, Syscall: nr})
		}
	}
	return evs
}

func attack(cg uint64, pid uint32) (evs []collector.Event) {
	evs = append(evs, collector.Event{CgroupID: cg, PID: pid, TID: pid, Syscall: 59, Path: "/tmp/.x"})
	for i := 0; i < 3; i++ {
		for _, nr := range []uint32{12, 9, 21, 257, 0, 9, 3, 41, 42, 33, 33, 61, 62, 101, 435, 56} {
			evs = append(evs, collector.Event{CgroupID: cg, PID: pid, TID: pid, Syscall: nr})
		}
	}
	return append(evs, collector.Event{CgroupID: cg, PID: pid, TID: pid, Syscall: exitGroup})
}

func newAgent(t *testing.T, src *script, r Reporter, w Workload, st Store) (*Agent, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	a, err := New(src, []Workload{w}, r, reg, zerolog.Nop(), Options{
		Profile: profile.Config{N: 4, Window: 16, Threshold: 0.1, Learn: 20}, AlarmK: 2, AlarmN: 8, Store: st,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a, reg
}

func TestLearnDetectReport(t *testing.T) {
	w := Workload{Identity: orders, CgroupDir: "/cg/orders", CgroupID: 7, Container: "shop/orders/app", Image: "sha256:v1"}
	src := &script{monitored: map[uint64]bool{}}
	src.events = append(serve(7, 100, 60, 0), serve(99, 5, 10, 0)...) // learning (30 windows); another cgroup
	src.events = append(src.events, serve(7, 101, 20, 1e6)...)        // normal, detected as such
	r := &reports{}
	a, reg := newAgent(t, src, r, w, nil)
	if err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(a.byCgroup[7].m.events); n != 640 {
		t.Fatalf("%v events counted, want 640 (none of the other cgroup)", n)
	}
	c := a.byCgroup[7]
	if c.prof.Phase() != profile.Detecting || testutil.ToFloat64(c.m.anomalous) != 0 || testutil.ToFloat64(c.m.benign) != 20 || testutil.ToFloat64(c.m.learning) != 20 {
		t.Fatalf("phase %v, %v anomalous, %v benign", c.prof.Phase(), testutil.ToFloat64(c.m.anomalous), testutil.ToFloat64(c.m.benign))
	}
	if len(r.vs) != 0 {
		t.Fatalf("verdicts for normal behaviour: %v", r.vs)
	}

	// The same agent, a process that does what this container never did
	// (no shell: only the model can tell).
	src.events = append(serve(7, 102, 4, 2e6), attack(7, 103)...)
	if err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	v := r.wait(t, 1)[0]
	if v.Workload != orders || v.Reason != "syscall-anomaly" || v.Score < 0.5 || len(v.Evidence) != 2 ||
		!strings.HasPrefix(v.Evidence[0], "thread 103: window of 16 calls scored") || v.Container != "shop/orders/app@sha256:v1" {
		t.Fatalf("verdict %+v", v)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP meshward_agent_verdicts_total Verdicts sent, by reason and outcome.
# TYPE meshward_agent_verdicts_total counter
meshward_agent_verdicts_total{outcome="sent",reason="syscall-anomaly"} 1
`), "meshward_agent_verdicts_total"); err != nil {
		t.Fatal(err)
	}
}

// Profiles survive a restart; a new image starts from the previous
// version's profile and detects at once.
func TestProfilesPersist(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "profiles.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w := Workload{Identity: orders, CgroupDir: "/cg/orders", CgroupID: 7, Container: "shop/orders/app", Image: "sha256:v1"}
	src := &script{monitored: map[uint64]bool{}, events: serve(7, 100, 60, 0)}
	a, _ := newAgent(t, src, &reports{}, w, st)
	if err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	learned := a.byCgroup[7].prof.NGrams()

	for _, tc := range []struct {
		image, origin string
	}{{"sha256:v1", "restored"}, {"sha256:v2", "successor of sha256:v1"}} {
		w.Image = tc.image
		p, origin := openProfile(st, profile.Config{N: 4, Window: 16, Threshold: 0.1, Learn: 20}, w, zerolog.Nop())
		if origin != tc.origin || p.Phase() != profile.Detecting || p.NGrams() != learned {
			t.Fatalf("%s: %q, %v, %d n-grams (learned %d)", tc.image, origin, p.Phase(), p.NGrams(), learned)
		}
	}
	// Restarted on v2: the attack is caught without a learning period.
	src = &script{monitored: map[uint64]bool{}, events: attack(7, 200)}
	r := &reports{}
	a, _ = newAgent(t, src, r, w, st)
	if err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := r.wait(t, 1)[0]; v.Reason != "exec-shell" && v.Reason != "syscall-anomaly" {
		t.Fatalf("verdict %+v", v)
	}
	if v, _, _ := st.Latest("shop/orders/app"); v != "sha256:v2" {
		t.Fatalf("latest version %q after running v2", v)
	}
	// A profile the agent cannot read (other n-gram length) is replaced.
	if _, origin := openProfile(st, profile.Config{N: 6, Window: 16, Threshold: 0.1, Learn: 20}, w, zerolog.Nop()); origin != "new" {
		t.Fatalf("unreadable profile: %q", origin)
	}
}

func TestSync(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "profiles.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	v1 := Workload{Identity: orders, CgroupDir: "/cg/a", CgroupID: 7, Container: "shop/orders/app", Image: "sha256:v1"}
	src := &script{monitored: map[uint64]bool{}, events: serve(7, 100, 60, 0)}
	a, _ := newAgent(t, src, &reports{}, v1, st)
	if err := a.Run(context.Background()); err != nil { // learns; detecting after 20 windows
		t.Fatal(err)
	}
	learned := a.byCgroup[7].prof.NGrams()

	// The pod's new image runs in a new container (cgroup); a second pod appears.
	v2 := v1
	v2.CgroupDir, v2.CgroupID, v2.Image = "/cg/b", 8, "sha256:v2"
	other := Workload{Identity: "spiffe://cluster.local/ns/shop/sa/cart", CgroupDir: "/cg/c", CgroupID: 9, Container: "shop/cart/app", Image: "sha256:c1"}
	if err := a.Sync([]Workload{v2, other}); err != nil {
		t.Fatal(err)
	}
	if src.monitored[7] || !src.monitored[8] || !src.monitored[9] || len(a.Watched()) != 2 {
		t.Fatalf("monitored %v, watched %v", src.monitored, a.Watched())
	}
	if p := a.byCgroup[8].prof; p.Phase() != profile.Detecting || p.NGrams() != learned {
		t.Fatalf("v2: %v with %d n-grams, want detecting with v1's %d", p.Phase(), p.NGrams(), learned)
	}
	if p := a.byCgroup[9].prof; p.Phase() != profile.Learning {
		t.Fatalf("a new container is %v", p.Phase())
	}
	if err := a.Sync(nil); err != nil {
		t.Fatal(err)
	}
	a.Close() // waits for the saves
	if len(src.monitored) != 0 {
		t.Fatalf("still monitored: %v", src.monitored)
	}
	for _, w := range []Workload{v1, v2, other} {
		if b, err := st.Load(w.Container, w.Image); err != nil || b == nil {
			t.Errorf("%s@%s not saved (%v)", w.Container, w.Image, err)
		}
	}
}
