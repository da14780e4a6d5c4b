package keystore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// stores lists every implementation the conformance tests run against.
func stores(t *testing.T) map[string]func(t *testing.T) Store {
	return map[string]func(t *testing.T) Store{
		"memory": func(t *testing.T) Store { return NewMemory() },
		"bolt": func(t *testing.T) Store {
			s, err := OpenBolt(filepath.Join(t.TempDir(), "keys.db"), time.Second)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"etcd": func(t *testing.T) Store { return openEtcd(t, sharedEtcd(t), testPrefix(t)) },
	}
}

func eachStore(t *testing.T, fn func(t *testing.T, s Store)) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			fn(t, s)
		})
	}
}

func TestCompareAndSwap(t *testing.T) {
	ctx := context.Background()
	eachStore(t, func(t *testing.T, s Store) {
		if _, err := s.Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
		}
		if _, err := s.Put(ctx, "k", []byte("x"), 7); !errors.Is(err, ErrConflict) {
			t.Fatalf("update of a missing key: %v, want ErrConflict", err)
		}
		r1, err := s.Put(ctx, "k", []byte("one"), 0)
		if err != nil || r1 == 0 {
			t.Fatalf("create: rev %d, %v", r1, err)
		}
		if _, err := s.Put(ctx, "k", []byte("lost race"), 0); !errors.Is(err, ErrConflict) {
			t.Fatalf("second create: %v, want ErrConflict", err)
		}
		r2, err := s.Put(ctx, "k", []byte("two"), r1)
		if err != nil || r2 <= r1 {
			t.Fatalf("update: rev %d after %d, %v", r2, r1, err)
		}
		if _, err := s.Put(ctx, "k", []byte("stale"), r1); !errors.Is(err, ErrConflict) {
			t.Fatalf("update with a stale revision: %v, want ErrConflict", err)
		}
		it, err := s.Get(ctx, "k")
		if err != nil || string(it.Value) != "two" || it.Rev != r2 || it.Key != "k" {
			t.Fatalf("Get: %+v, %v; want two at rev %d", it, err, r2)
		}
	})
}

func TestValuesAreCopies(t *testing.T) {
	ctx := context.Background()
	eachStore(t, func(t *testing.T, s Store) {
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

func TestList(t *testing.T) {
	ctx := context.Background()
	eachStore(t, func(t *testing.T, s Store) {
		for _, k := range []string{"a/2", "b/1", "a/1", "a", "ab/1"} {
			if _, err := s.Put(ctx, k, []byte("v"+k), 0); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		if err := s.List(ctx, "a/", func(it Item) error {
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
		err := s.List(ctx, "", func(Item) error { n++; return stop })
		if err != stop || n != 1 {
			t.Fatalf("List stopped by fn: %v after %d items, want fn's error after 1", err, n)
		}
	})
}

func TestLimits(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		key   string
		value []byte
	}{
		{"empty key", "", nil},
		{"long key", strings.Repeat("k", MaxKeyBytes+1), nil},
		{"large value", "k", make([]byte, MaxValueBytes+1)},
	}
	eachStore(t, func(t *testing.T, s Store) {
		for _, c := range cases {
			if _, err := s.Put(ctx, c.key, c.value, 0); err == nil || errors.Is(err, ErrConflict) {
				t.Errorf("%s: Put %v, want a limit error", c.name, err)
			}
		}
		if _, err := s.Put(ctx, strings.Repeat("k", MaxKeyBytes), make([]byte, MaxValueBytes), 0); err != nil {
			t.Errorf("Put at the limits: %v", err)
		}
	})
}

func TestClosedAndCancelled(t *testing.T) {
	eachStore(t, func(t *testing.T, s Store) {
		cancelled, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.Put(cancelled, "k", nil, 0); !errors.Is(err, context.Canceled) {
			t.Errorf("Put with a cancelled context: %v", err)
		}
		ctx := context.Background()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "k"); !errors.Is(err, ErrClosed) {
			t.Errorf("Get after Close: %v, want ErrClosed", err)
		}
		if _, err := s.Put(ctx, "k", nil, 0); !errors.Is(err, ErrClosed) {
			t.Errorf("Put after Close: %v, want ErrClosed", err)
		}
		if err := s.List(ctx, "", func(Item) error { return nil }); !errors.Is(err, ErrClosed) {
			t.Errorf("List after Close: %v, want ErrClosed", err)
		}
	})
}

// Many writers creating one key: exactly one create wins, the others see a
// conflict, and the stored value is the winner's.
func TestConcurrentCreate(t *testing.T) {
	ctx := context.Background()
	eachStore(t, func(t *testing.T, s Store) {
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
				} else if !errors.Is(err, ErrConflict) {
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

func TestBoltReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	s, err := OpenBolt(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := s.Put(ctx, "k", []byte("kept"), 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = OpenBolt(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	it, err := s.Get(ctx, "k")
	if err != nil || string(it.Value) != "kept" || it.Rev != r1 {
		t.Fatalf("after reopen: %+v, %v", it, err)
	}
	r2, err := s.Put(ctx, "k", []byte("next"), r1)
	if err != nil || r2 <= r1 {
		t.Fatalf("revisions after reopen: %d after %d, %v", r2, r1, err)
	}
}

func TestBoltCorruptRecord(t *testing.T) {
	s, err := OpenBolt(filepath.Join(t.TempDir(), "keys.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(boltBucket).Put([]byte("k"), []byte{1, 2}) }); err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(context.Background(), "k")
	if err == nil || !strings.Contains(err.Error(), `record "k": 2 bytes`) {
		t.Fatalf("Get of a 2-byte record: %v, want an error naming the record and its size", err)
	}
	if _, err := s.Put(context.Background(), "k", nil, 0); err == nil || errors.Is(err, ErrConflict) {
		t.Fatalf("Put over a corrupt record: %v, want the corruption reported", err)
	}
}
