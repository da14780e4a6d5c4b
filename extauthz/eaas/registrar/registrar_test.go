package registrar

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/meshward/meshward/api/eaas"
	"github.com/meshward/meshward/extauthz/eaas/coordinator"
	"github.com/meshward/meshward/extauthz/eaas/subscriber"
)

// fakeCoordinator records assignments; fail decides each call's error.
type fakeCoordinator struct {
	name string
	mu   sync.Mutex
	subs map[uint32]subscriber.Subscriber
	n    int
	fail func(s subscriber.Subscriber) error
}

func newFake(name string) *fakeCoordinator {
	return &fakeCoordinator{name: name, subs: map[uint32]subscriber.Subscriber{}}
}

func (f *fakeCoordinator) Assign(_ context.Context, s subscriber.Subscriber) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if f.fail != nil {
		if err := f.fail(s); err != nil {
			return "", err
		}
	}
	f.subs[s.ID] = s
	return f.name, nil
}

func (f *fakeCoordinator) holds(id uint32) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.subs[id]
	return ok
}

func member(name string, id uint32) subscriber.Member {
	return subscriber.Member{Requester: id, Principal: "cluster.local/ns/shop/sa/" + name}
}

func reg(id uint32, members ...subscriber.Member) Registration {
	return Registration{Subscriber: id, Deception: 2, Members: members}
}

func ids(s subscriber.Subscriber) map[string]uint32 {
	out := map[string]uint32{}
	for _, m := range s.Members {
		out[strings.TrimPrefix(m.Principal, "cluster.local/ns/shop/sa/")] = m.Requester
	}
	return out
}

// Requester ids: the lowest free ones, kept across registrations whatever
// the order, and never given to another principal, even after its holder
// left (keys and sealed envelopes belong to ids).
func TestNumbering(t *testing.T) {
	steps := []struct {
		name    string
		members []subscriber.Member
		want    map[string]uint32
		err     string
	}{
		{"lowest free ids around explicit ones", []subscriber.Member{member("a", 0), member("b", 2), member("c", 0)},
			map[string]uint32{"a": 1, "b": 2, "c": 3}, ""},
		{"same members, another order", []subscriber.Member{member("c", 0), member("b", 0), member("a", 0)},
			map[string]uint32{"a": 1, "b": 2, "c": 3}, ""},
		{"b leaves", []subscriber.Member{member("a", 0), member("c", 0)}, map[string]uint32{"a": 1, "c": 3}, ""},
		{"d comes: b's id is not reused", []subscriber.Member{member("a", 0), member("c", 0), member("d", 0)},
			map[string]uint32{"a": 1, "c": 3, "d": 4}, ""},
		{"e asks for b's old id", []subscriber.Member{member("a", 0), member("e", 2)}, nil, "requester 2 was given to"},
		{"a asks for another id", []subscriber.Member{member("a", 9)}, nil, "is requester 1"},
		{"b comes back to its id", []subscriber.Member{member("a", 0), member("b", 0)}, map[string]uint32{"a": 1, "b": 2}, ""},
	}
	r := New(newFake("c0"))
	for _, st := range steps {
		s, err := r.Register(context.Background(), reg(7, st.members...))
		if st.err != "" {
			if err == nil || !strings.Contains(err.Error(), st.err) {
				t.Fatalf("%s: %v, want %q", st.name, err, st.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := ids(s); fmt.Sprint(got) != fmt.Sprint(st.want) {
			t.Fatalf("%s: ids %v, want %v", st.name, got, st.want)
		}
	}
}

// A principal is a member of one subscriber, across every coordinator.
func TestAPrincipalBelongsToOneSubscriber(t *testing.T) {
	c0, c1 := newFake("c0"), newFake("c1")
	r := New(c0, c1)
	ctx := context.Background()
	if _, err := r.Register(ctx, reg(1, member("a", 0), member("b", 0))); err != nil {
		t.Fatal(err)
	}
	// Subscriber 2 would go to c1 (least loaded), which does not know a.
	if _, err := r.Register(ctx, reg(2, member("x", 0), member("a", 0))); err == nil ||
		!strings.Contains(err.Error(), "is a member of subscriber 1") {
		t.Fatalf("a second subscriber took a's principal: %v", err)
	}
	if c1.holds(2) {
		t.Fatal("the refused subscriber reached a coordinator")
	}
	// Once subscriber 1 lets a go, another subscriber may take it.
	if _, err := r.Register(ctx, reg(1, member("b", 0))); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Register(ctx, reg(2, member("x", 0), member("a", 0))); err != nil {
		t.Fatal(err)
	}
}

// Assignments: the least loaded coordinator, and a subscriber registered
// again stays where it is.
func TestAssignmentIsLeastLoadedAndSticky(t *testing.T) {
	c0, c1 := newFake("c0"), newFake("c1")
	r := New(c0, c1)
	ctx := context.Background()
	var got []string
	for id := range uint32(4) {
		s, err := r.Register(ctx, reg(id, member(fmt.Sprint("m", id), 0), member(fmt.Sprint("n", id), 0)))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s.Coordinator)
	}
	if fmt.Sprint(got) != "[c0 c1 c0 c1]" {
		t.Fatalf("assigned %v", got)
	}
	for range 3 { // c1 gets less loaded than c0 would be: 0 stays on c0 anyway
		s, err := r.Register(ctx, reg(0, member("m0", 0), member("n0", 0)))
		if err != nil || s.Coordinator != "c0" {
			t.Fatalf("re-registration went to %q: %v", s.Coordinator, err)
		}
	}
	if c1.holds(0) {
		t.Fatal("subscriber 0 reached a second coordinator")
	}
}

// Racing registrations of one new subscriber land on one coordinator.
func TestConcurrentRegistrationsLandTogether(t *testing.T) {
	for round := range 50 {
		c0, c1 := newFake("c0"), newFake("c1")
		r := New(c0, c1)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = r.Register(context.Background(), reg(9, member("a", 0), member("b", 0)))
			}()
		}
		wg.Wait()
		if c0.holds(9) && c1.holds(9) {
			t.Fatalf("round %d: subscriber 9 is on both coordinators", round)
		}
	}
}

// A coordinator that fails mid-assignment: an unavailable one is passed
// over (the next gets the subscriber, the load follows), one that refuses
// is not (another coordinator would miss its reason), and a subscriber
// already assigned never moves.
func TestACoordinatorFailsMidAssignment(t *testing.T) {
	ctx := context.Background()
	down := func(subscriber.Subscriber) error {
		return &coordinator.Unavailable{Err: errors.New("connection reset")}
	}
	refuse := func(subscriber.Subscriber) error { return errors.New("principal is already a member of subscriber 3") }

	c0, c1 := newFake("c0"), newFake("c1")
	c0.fail = down
	r := New(c0, c1)
	s, err := r.Register(ctx, reg(1, member("a", 0), member("b", 0)))
	if err != nil || s.Coordinator != "c1" {
		t.Fatalf("unavailable c0: assigned to %q, %v", s.Coordinator, err)
	}
	c0.fail = nil
	if s, _ := r.Register(ctx, reg(2, member("c", 0), member("d", 0))); s.Coordinator != "c0" {
		t.Fatalf("the load did not follow the failover: %q", s.Coordinator)
	}
	c1.fail = down // subscriber 1's own coordinator goes down: it waits, it does not move
	if _, err := r.Register(ctx, reg(1, member("a", 0), member("b", 0))); err == nil || c0.holds(1) {
		t.Fatalf("subscriber 1 moved off its coordinator: %v", err)
	}

	c0, c1 = newFake("c0"), newFake("c1")
	c0.fail = refuse
	r = New(c0, c1)
	if _, err := r.Register(ctx, reg(1, member("a", 0), member("b", 0))); err == nil || c1.holds(1) {
		t.Fatalf("a refusal was taken elsewhere: %v", err)
	}
	// A failed registration leaves nothing behind: the ids and principals
	// are free, and the next attempt is numbered afresh.
	c0.fail = nil
	s, err = r.Register(ctx, reg(1, member("b", 0), member("a", 0)))
	if err != nil || fmt.Sprint(ids(s)) != "map[a:2 b:1]" {
		t.Fatalf("after a refusal: %v %v", ids(s), err)
	}

	c0, c1 = newFake("c0"), newFake("c1")
	c0.fail = down
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := New(c0, c1).Register(cctx, reg(1, member("a", 0), member("b", 0))); err == nil || c1.n != 0 {
		t.Fatalf("a cancelled registration went on to the next coordinator: %v", err)
	}
}

// With a real coordinator: its refusal of a principal another subscriber
// holds there reaches the operator.
func TestRealCoordinatorRefusal(t *testing.T) {
	c, err := coordinator.New(coordinator.Config{ID: "coordinator-0"})
	if err != nil {
		t.Fatal(err)
	}
	other := subscriber.Subscriber{ID: 3, Widths: eaas.Widths{S: 8, R: 8, N: 16, T: 1}, Cipher: subscriber.DefaultCipher,
		OnUnavailable: subscriber.FailClosed, Members: []subscriber.Member{member("a", 1)}}
	if _, err := c.Assign(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	_, err = New(c).Register(context.Background(), reg(4, member("a", 0), member("b", 0)))
	if err == nil || !strings.Contains(err.Error(), "already a member of subscriber 3") {
		t.Fatalf("got %v", err)
	}
}

func TestRegistrationRefusals(t *testing.T) {
	cases := []struct {
		name string
		reg  Registration
		want string
	}{
		{"deception 7", Registration{Subscriber: 1, Deception: 7, Members: []subscriber.Member{member("a", 0)}}, "deception factor 7"},
		{"s too wide", Registration{Subscriber: 1, Widths: eaas.Widths{S: 33, R: 8, N: 8}, Members: []subscriber.Member{member("a", 0)}}, "width s"},
		{"id wider than s", Registration{Subscriber: 300, Widths: eaas.Widths{S: 8, R: 8, N: 8}, Members: []subscriber.Member{member("a", 0)}}, "does not fit"},
		{"too many members", Registration{Subscriber: 1, Members: make([]subscriber.Member, subscriber.MaxMembers+1)}, "4097 members"},
		{"no members", Registration{Subscriber: 1}, "0 members"},
		{"unknown cipher", Registration{Subscriber: 1, Cipher: "rc4", Members: []subscriber.Member{member("a", 0)}}, "unknown cipher"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newFake("c0")
			_, err := New(c).Register(context.Background(), tc.reg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
			if c.n != 0 {
				t.Fatal("an invalid registration reached a coordinator")
			}
		})
	}
}

// Defaults: meshward's widths, aes256-gcm, fail-closed.
func TestDefaults(t *testing.T) {
	s, err := New(newFake("c0")).Register(context.Background(), Registration{Subscriber: 1, Deception: 3,
		Members: []subscriber.Member{member("a", 0)}})
	if err != nil {
		t.Fatal(err)
	}
	want := eaas.Widths{S: 16, R: 16, N: 32, T: 3}
	if s.Widths != want || s.Cipher != "aes256-gcm" || s.OnUnavailable != subscriber.FailClosed {
		t.Fatalf("%+v", s)
	}
}
