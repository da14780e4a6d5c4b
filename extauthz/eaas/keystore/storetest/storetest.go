// Package storetest is the conformance test every keystore.Store passes:
// compare-and-swap, copies, listing, limits, closing and racing creators.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/meshward/meshward/extauthz/eaas/keystore"
)

// Opener makes a fresh, empty store for one test.
type Opener func(t *testing.T) keystore.Store

// Run runs every conformance test against the stores open makes.
func Run(t *testing.T, open Opener) {
	t.Run("compareAndSwap", func(t *testing.T) { compareAndSwap(t, open) })
	t.Run("valuesAreCopies", func(t *testing.T) { valuesAreCopies(t, open) })
	t.Run("list", func(t *testing.T) { list(t, open) })
	t.Run("limits", func(t *testing.T) { limits(t, open) })
	t.Run("closedAndCancelled", func(t *testing.T) { closedAndCancelled(t, open) })
	t.Run("concurrentCreate", func(t *testing.T) { concurrentCreate(t, open) })
}

func each(t *testing.T, open Opener, fn func(t *testing.T, s keystore.Store)) {
	s := open(t)
	t.Cleanup(func() { s.Close() })
	fn(t, s)
}

func compareAndSwap(t *testing.T, open Opener) {
	ctx := context.Background()
	each(t, open, func(t *testing.T, s keystore.Store) {
		if _, err := s.Get(ctx, "k"); !errors.Is(err, keystore.ErrNotFound) {
			t.Fatalf("Get of a missing key: %v, want keystore.ErrNotFound", err)
		}
		if _, err := s.Put(ctx, "k", []byte("x"), 7); !errors.Is(err, keystore.ErrConflict) {
			t.Fatalf("update of a missing key: %v, want keystore.ErrConflict", err)
		}
		r1, err := s.Put(ctx, "k", []byte("one"), 0)
		if err != nil || r1 == 0 {
			t.Fatalf("create: rev %d, %v", r1, err)
		}
		if _, err := s.Put(ctx, "k", []byte("lost race"), 0); !errors.Is(err, keystore.ErrConflict) {
			t.Fatalf("second create: %v, want keystore.ErrConflict", err)
		}
		r2, err := s.Put(ctx, "k", []byte("two"), r1)
		if err != nil || r2 <= r1 {
			t.Fatalf("update: rev %d after %d, %v", r2, r1, err)
		}
		if _, err := s.Put(ctx, "k", []byte("stale"), r1); !errors.Is(err, keystore.ErrConflict) {
			t.Fatalf("update with a stale revision: %v, want keystore.ErrConflict", err)
		}
		it, err := s.Get(ctx, "k")
		if err != nil || string(it.Value) != "two" || it.Rev != r2 || it.Key != "k" {
			t.Fatalf("Get: %+v, %v; want two at rev %d", it, err, r2)
		}
	})
}

func valuesAreCopies(t *testing.T, open Opener) {
	ctx := context.Background()
	each(t, open, func(t *testing.T, s keystore.Store) {
		in := []byte("secret")
		if _, err := s.Put(ctx, "k", in, 0); err != nil {
			t.Fatal(err)
		}
		in[0] = 'X'
		it, _ := s.Get(ctx, "k")
		it.Value[1] = 'Y'
		again, _ := s.Get(ctx, "k")
		if string(again.Value) != "secret" {
			t.Fatalf("stored value changed through a caller's slice: %q", again.Value)
		}
	})
}

func list(t *testing.T, open Opener) {
	ctx := context.Background()
	each(t, open, func(t *testing.T, s keystore.Store) {
		for _, k := range []string{"a/2", "b/1", "a/1", "a", "ab/1"} {
			if _, err := s.Put(ctx, k, []byte("v"+k), 0); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		if err := s.List(ctx, "a/", func(it keystore.Item) error {
			got = append(got, it.Key+"="+string(it.Value))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if want := "a/1=va/1 a/2=va/2"; strings.Join(got, " ") != want {
			t.Fatalf("List a/: %q, want %q", got, want)
		}
		stop := errors.New("stop")
		n := 0
		err := s.List(ctx, "", func(keystore.Item) error { n++; return stop })
		if err != stop || n != 1 {
			t.Fatalf("List stopped by fn: %v after %d items, want fn's error after 1", err, n)
		}
	})
}

func limits(t *testing.T, open Opener) {
	ctx := context.Background()
	cases := []struct {
		name  string
		key   string
		value []byte
	}{
		{"empty key", "", nil},
		{"long key", strings.Repeat("k", keystore.MaxKeyBytes+1), nil},
		{"large value", "k", make([]byte, keystore.MaxValueBytes+1)},
	}
	each(t, open, func(t *testing.T, s keystore.Store) {
		for _, c := range cases {
			if _, err := s.Put(ctx, c.key, c.value, 0); err == nil || errors.Is(err, keystore.ErrConflict) {
				t.Errorf("%s: Put %v, want a limit error", c.name, err)
			}
		}
		if _, err := s.Put(ctx, strings.Repeat("k", keystore.MaxKeyBytes), make([]byte, keystore.MaxValueBytes), 0); err != nil {
			t.Errorf("Put at the limits: %v", err)
		}
	})
}

func closedAndCancelled(t *testing.T, open Opener) {
	each(t, open, func(t *testing.T, s keystore.Store) {
		cancelled, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.Put(cancelled, "k", nil, 0); !errors.Is(err, context.Canceled) {
			t.Errorf("Put with a cancelled context: %v", err)
		}
		ctx := context.Background()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "k"); !errors.Is(err, keystore.ErrClosed) {
			t.Errorf("Get after Close: %v, want keystore.ErrClosed", err)
		}
		if _, err := s.Put(ctx, "k", nil, 0); !errors.Is(err, keystore.ErrClosed) {
			t.Errorf("Put after Close: %v, want keystore.ErrClosed", err)
		}
		if err := s.List(ctx, "", func(keystore.Item) error { return nil }); !errors.Is(err, keystore.ErrClosed) {
			t.Errorf("List after Close: %v, want keystore.ErrClosed", err)
		}
	})
}

// Many writers creating one key: exactly one create wins, the others see a
// conflict, and the stored value is the winner's.
func concurrentCreate(t *testing.T, open Opener) {
	ctx := context.Background()
	each(t, open, func(t *testing.T, s keystore.Store) {
		const n = 16
		var wg sync.WaitGroup
		start := make(chan struct{})
		wins := make(chan string, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				v := fmt.Sprint(i)
				if _, err := s.Put(ctx, "k", []byte(v), 0); err == nil {
					wins <- v
				} else if !errors.Is(err, keystore.ErrConflict) {
					t.Error(err)
				}
			}()
		}
		close(start)
		wg.Wait()
		close(wins)
		var won []string
		for v := range wins {
			won = append(won, v)
		}
		it, err := s.Get(ctx, "k")
		if len(won) != 1 || err != nil || string(it.Value) != won[0] {
			t.Fatalf("winners %q, stored %q (%v): want exactly one, stored", won, it.Value, err)
		}
	})
}
