package coordinator

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/meshward/meshward/extauthz/eaas/keystore"
	"github.com/meshward/meshward/extauthz/eaas/subscriber"
)

// A registration that would make principal -> requester ambiguous, or move
// a requester id to another principal, is refused; the record in force
// stays.
func TestAssignRefusesAmbiguity(t *testing.T) {
	r := newRig(t, fig3())
	ctx := context.Background()
	cases := []struct {
		name string
		edit func(*subscriber.Subscriber)
		want string
	}{
		{"another subscriber with a's principal", func(s *subscriber.Subscriber) {
			*s = sub55()
			s.Members[0].Principal = "cluster.local/ns/shop/sa/a"
		}, "already a member of subscriber 54"},
		{"requester 1 given to another principal", func(s *subscriber.Subscriber) {
			s.Members[0].Principal = "cluster.local/ns/shop/sa/x"
		}, "requester 1 is \"cluster.local/ns/shop/sa/a\""},
		{"a moves to requester 4", func(s *subscriber.Subscriber) { s.Members[0].Requester = 4 }, "is requester 1"},
		{"a and b swap ids", func(s *subscriber.Subscriber) {
			s.Members[0].Requester, s.Members[1].Requester = 2, 1
		}, "cannot become"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := fig3()
			tc.edit(&s)
			if _, err := r.c.Assign(ctx, s); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
			if ref, ok := r.c.dir.member("cluster.local/ns/shop/sa/a"); !ok || ref.sub.ID != 54 || ref.requester != 1 {
				t.Fatalf("a is now %+v", ref)
			}
		})
	}
	// A new token and a new member with a new id are fine.
	s := fig3()
	s.Token = 3
	s.Members = append(s.Members, subscriber.Member{Requester: 4, Principal: "cluster.local/ns/shop/sa/x"})
	if _, err := r.c.Assign(ctx, s); err != nil {
		t.Fatal(err)
	}
}

// Two registrations racing for one principal: one wins, and the durable
// state stays loadable (it once held both, and the next start failed).
func TestRacingAssignmentsKeepTheStateLoadable(t *testing.T) {
	for round := range 200 {
		store := keystore.NewMemory()
		c, err := New(Config{ID: "c", State: StoreState{S: store}})
		if err != nil {
			t.Fatal(err)
		}
		one, two := fig3(), sub55()
		two.Members[0].Principal = one.Members[0].Principal
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, s := range []subscriber.Subscriber{one, two} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = c.Assign(context.Background(), s)
			}()
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("round %d: both or neither won: %v", round, errs)
		}
		c2, err := New(Config{ID: "c", State: StoreState{S: store}})
		if err != nil {
			t.Fatalf("round %d: the state does not load: %v", round, err)
		}
		if n := len(c2.Subscribers()); n != 1 {
			t.Fatalf("round %d: %d subscribers after a restart, want 1", round, n)
		}
	}
}
