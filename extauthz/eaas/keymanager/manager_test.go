package keymanager

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshward/meshward/extauthz/eaas/keystore"
	"github.com/meshward/meshward/extauthz/eaas/keystore/etcdstore"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

func newKEK(t testing.TB) tink.AEAD {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	a, err := aead.New(h)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func newManager(t testing.TB) (*Manager, keystore.Store) {
	s := keystore.NewMemory()
	return New(s, newKEK(t)), s
}

func versionsOf(t *testing.T, k Key) []uint32 {
	t.Helper()
	v, primary, err := materialVersions(k.Cipher, k.Material)
	if err != nil {
		t.Fatal(err)
	}
	if primary != k.Primary {
		t.Fatalf("key says primary %d, its material %d", k.Primary, primary)
	}
	return v
}

var ctx = context.Background()

func TestKeyIsCreatedOnceAndShared(t *testing.T) {
	for _, c := range Ciphers() {
		t.Run(string(c), func(t *testing.T) {
			m, _ := newManager(t)
			k1, err := m.Key(ctx, NewPairID(54, 5, 2), c)
			if err != nil {
				t.Fatal(err)
			}
			k2, err := m.Key(ctx, PairID{Subscriber: 54, A: 5, B: 2}, c)
			if err != nil {
				t.Fatal(err)
			}
			want := PairID{Subscriber: 54, A: 2, B: 5}
			if k1.Pair != want || k1.Cipher != c || k1.Primary != 1 || !bytes.Equal(k1.Material, k2.Material) || k2.Pair != want {
				t.Fatalf("two calls for one pair: %v and %v", k1, k2)
			}
			if v := versionsOf(t, k1); !slices.Equal(v, []uint32{1}) {
				t.Fatalf("a new keyset holds versions %v", v)
			}
			k1.Material[0] ^= 1
			if k3, _ := m.Key(ctx, want, c); !bytes.Equal(k3.Material, k2.Material) {
				t.Fatal("a caller's change to a returned key reached the manager's copy")
			}
		})
	}
}

// Decryption looks keys up: a made-up pair gets no keyset stored.
func TestLookupCreatesNothing(t *testing.T) {
	m, s := newManager(t)
	p := NewPairID(1, 7, 8)
	if _, err := m.Lookup(ctx, p, AES256GCM); !errors.Is(err, ErrNoKeyset) {
		t.Fatalf("Lookup of a pair without keyset: %v, want ErrNoKeyset", err)
	}
	if _, err := s.Get(ctx, p.storeKey()); !errors.Is(err, keystore.ErrNotFound) {
		t.Fatalf("Lookup stored something: %v", err)
	}
	made, _ := m.Key(ctx, p, AES256GCM)
	got, err := m.Lookup(ctx, PairID{Subscriber: 1, A: 8, B: 7}, AES256GCM)
	if err != nil || !bytes.Equal(got.Material, made.Material) {
		t.Fatalf("Lookup after Key: %v, %v", got, err)
	}
	if _, err := m.Lookup(ctx, p, InsecureDES); !errors.Is(err, ErrCipher) {
		t.Fatalf("Lookup for another cipher: %v, want ErrCipher", err)
	}
}

func TestKeyCipherChecks(t *testing.T) {
	m, _ := newManager(t)
	p := NewPairID(1, 1, 2)
	k, err := m.Key(ctx, p, "")
	if err != nil || k.Cipher != AES256GCM {
		t.Fatalf("the default cipher: %v, %v", k, err)
	}
	if _, err := m.Key(ctx, p, ChaCha20Poly1305); !errors.Is(err, ErrCipher) {
		t.Fatalf("an AES pair asked for ChaCha20: %v, want ErrCipher", err)
	}
	if _, err := m.Key(ctx, NewPairID(1, 3, 4), "rot13"); err == nil || !strings.Contains(err.Error(), `unknown cipher "rot13"`) {
		t.Fatalf("an unknown cipher: %v", err)
	}
}

func TestPairsHaveTheirOwnKeys(t *testing.T) {
	m, _ := newManager(t)
	seen := map[string]PairID{}
	for _, p := range []PairID{NewPairID(1, 1, 2), NewPairID(1, 1, 3), NewPairID(2, 1, 2), NewPairID(1, 2, 2)} {
		k, err := m.Key(ctx, p, AES256GCM)
		if err != nil {
			t.Fatal(err)
		}
		if other, dup := seen[string(k.Material)]; dup {
			t.Fatalf("pairs %s and %s share a keyset", p, other)
		}
		seen[string(k.Material)] = p
	}
}

func TestRotateRetirePurge(t *testing.T) {
	for _, c := range Ciphers() {
		t.Run(string(c), func(t *testing.T) {
			m, _ := newManager(t)
			p := NewPairID(7, 1, 2)
			if _, err := m.Rotate(ctx, p); !errors.Is(err, ErrNoKeyset) {
				t.Fatalf("Rotate of a pair without keyset: %v", err)
			}
			mustKey := func(want ...uint32) Key {
				t.Helper()
				k, err := m.Key(ctx, p, c)
				if err != nil {
					t.Fatal(err)
				}
				if got := versionsOf(t, k); !slices.Equal(got, want) {
					t.Fatalf("the key holds versions %v, want %v", got, want)
				}
				return k
			}
			v1 := mustKey(1)
			for want := uint32(2); want <= 3; want++ {
				if v, err := m.Rotate(ctx, p); err != nil || v != want {
					t.Fatalf("Rotate: %d, %v; want %d", v, err, want)
				}
			}
			k := mustKey(1, 2, 3)
			if k.Primary != 3 || bytes.Equal(k.Material, v1.Material) {
				t.Fatalf("after two rotations: %v", k)
			}
			if err := m.Retire(ctx, p, 3); err != nil {
				t.Fatal(err)
			}
			mustKey(3)
			info, _ := m.Info(ctx, p)
			if info.MinDecryption != 3 || len(info.Versions) != 3 || !info.Versions[1].Retired || info.Versions[2].Retired {
				t.Fatalf("info after Retire(3): %+v", info)
			}
			if err := m.Retire(ctx, p, 2); err != nil {
				t.Fatal(err)
			}
			mustKey(2, 3) // key bytes were kept: a lower Retire admits v2 again
			for _, bad := range []uint32{0, 4} {
				if err := m.Retire(ctx, p, bad); !errors.Is(err, ErrVersion) {
					t.Fatalf("Retire(%d): %v, want ErrVersion", bad, err)
				}
			}
			if n, err := m.Purge(ctx, p); n != 1 || err != nil {
				t.Fatalf("Purge: %d, %v; want 1 version purged", n, err)
			}
			mustKey(2, 3)
			if err := m.Retire(ctx, p, 1); !errors.Is(err, ErrVersion) {
				t.Fatalf("Retire below purged versions: %v, want ErrVersion", err)
			}
			if n, err := m.Purge(ctx, p); n != 0 || err != nil {
				t.Fatalf("Purge with nothing retired: %d, %v", n, err)
			}
			info, _ = m.Info(ctx, p)
			if info.PurgedBelow != 2 || info.Versions[0].Version != 2 || info.Primary != 3 {
				t.Fatalf("info after Purge: %+v", info)
			}
			if v, err := m.Rotate(ctx, p); v != 4 || err != nil {
				t.Fatalf("Rotate after Purge: %d, %v", v, err)
			}
		})
	}
}

// The KEK of another deployment opens no record, says so, and does not
// make the manager write a new keyset over the one it cannot read.
func TestWrongKEK(t *testing.T) {
	m, s := newManager(t)
	p := NewPairID(1, 1, 2)
	if _, err := m.Key(ctx, p, AES256GCM); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Get(ctx, p.storeKey())
	other := New(s, newKEK(t))
	_, err := other.Key(ctx, p, AES256GCM)
	if !errors.Is(err, ErrRecord) || !strings.Contains(err.Error(), "wrong key-encryption key") || !strings.Contains(err.Error(), "1/1-2") {
		t.Fatalf("Key under another KEK: %v, want ErrRecord naming the pair and the KEK", err)
	}
	if _, err := other.Rotate(ctx, p); !errors.Is(err, ErrRecord) {
		t.Fatalf("Rotate under another KEK: %v", err)
	}
	if _, err := other.List(ctx); !errors.Is(err, ErrRecord) {
		t.Fatalf("List under another KEK: %v", err)
	}
	after, _ := s.Get(ctx, p.storeKey())
	if after.Rev != before.Rev || !bytes.Equal(after.Value, before.Value) {
		t.Fatal("a manager with the wrong KEK changed the stored record")
	}
}

// An attacker with write access to the store copies pair A's record (whose
// key it may have learnt) over pair B's: B's record no longer opens, rather
// than B's traffic being encrypted under A's key.
func TestRecordMovedToAnotherPair(t *testing.T) {
	m, s := newManager(t)
	a, b := NewPairID(1, 1, 2), NewPairID(1, 1, 3)
	for _, p := range []PairID{a, b} {
		if _, err := m.Key(ctx, p, AES256GCM); err != nil {
			t.Fatal(err)
		}
	}
	ra, _ := s.Get(ctx, a.storeKey())
	rb, _ := s.Get(ctx, b.storeKey())
	if _, err := s.Put(ctx, b.storeKey(), ra.Value, rb.Rev); err != nil {
		t.Fatal(err)
	}
	if k, err := m.Key(ctx, b, AES256GCM); !errors.Is(err, ErrRecord) {
		t.Fatalf("pair %s with %s's record: %v, %v; want ErrRecord", b, a, k, err)
	}
}

func TestTamperedRecord(t *testing.T) {
	m, s := newManager(t)
	p := NewPairID(1, 1, 2)
	m.Key(ctx, p, AES256GCM)
	it, _ := s.Get(ctx, p.storeKey())
	for i := range it.Value {
		v := bytes.Clone(it.Value)
		v[i] ^= 0x20
		if _, err := openRecord(m.kek, p, v); !errors.Is(err, ErrRecord) {
			t.Fatalf("record with byte %d flipped: %v", i, err)
		}
	}
}

// A Key prints its pair, cipher and primary, never its material.
func TestKeyPrintsNoMaterial(t *testing.T) {
	m, _ := newManager(t)
	k, _ := m.Key(ctx, NewPairID(1, 1, 2), InsecureDES)
	lm, _ := ParseMaterial(k.Material)
	secret := lm.Versions[0].MACKey
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		for _, arg := range []any{k, &k, []Key{k}, struct{ K Key }{k}} {
			out := fmt.Sprintf(verb, arg)
			if !strings.Contains(out, "material redacted") || strings.Contains(out, hex.EncodeToString(secret[:8])) ||
				strings.Contains(strings.ToLower(out), hex.EncodeToString(secret[:8])) || bytes.Contains([]byte(out), secret[:8]) {
				t.Fatalf("%s of a key: %q", verb, out)
			}
		}
	}
}

func TestList(t *testing.T) {
	m, _ := newManager(t)
	pairs := []PairID{NewPairID(2, 1, 2), NewPairID(1, 3, 4), NewPairID(1, 1, 9)}
	for _, p := range pairs {
		m.Key(ctx, p, ChaCha20Poly1305)
	}
	m.Rotate(ctx, pairs[0])
	infos, err := m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ki := range infos {
		got = append(got, fmt.Sprintf("%s %s v%d/%d", ki.Pair, ki.Cipher, ki.Primary, len(ki.Versions)))
		if ki.Versions[0].Created.IsZero() {
			t.Fatalf("%s: no creation time", ki.Pair)
		}
	}
	want := "1/1-9 chacha20-poly1305 v1/1, 1/3-4 chacha20-poly1305 v1/1, 2/1-2 chacha20-poly1305 v2/2"
	if strings.Join(got, ", ") != want {
		t.Fatalf("List: %s\nwant  %s", strings.Join(got, ", "), want)
	}
}

// Replicas running one rotation schedule rotate each due pair once.
func TestRotateOlderThan(t *testing.T) {
	s := keystore.NewMemory()
	kek := newKEK(t)
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	a, b := New(s, kek), New(s, kek)
	a.now, b.now = now, now
	old, fresh := NewPairID(1, 1, 2), NewPairID(1, 1, 3)
	a.Key(ctx, old, AES256GCM)
	clock = clock.Add(90 * time.Minute)
	a.Key(ctx, fresh, AES256GCM)
	clock = clock.Add(40 * time.Minute)
	got, err := a.RotateOlderThan(ctx, time.Hour)
	if err != nil || !slices.Equal(got, []PairID{old}) {
		t.Fatalf("first replica rotated %v, %v; want only %s", got, err, old)
	}
	if got, err := b.RotateOlderThan(ctx, time.Hour); err != nil || len(got) != 0 {
		t.Fatalf("second replica rotated %v, %v; want nothing", got, err)
	}
	if info, _ := b.Info(ctx, old); info.Primary != 2 {
		t.Fatalf("primary %d after the schedule ran twice, want 2", info.Primary)
	}
}

func stores(t *testing.T) map[string]keystore.Store {
	b, err := keystore.OpenBolt(filepath.Join(t.TempDir(), "keys.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	out := map[string]keystore.Store{"memory": keystore.NewMemory(), "bolt": b}
	if _, err := exec.LookPath("etcd"); err == nil {
		e, err := etcdstore.OpenEtcd(sharedEtcd(t).Config(), fmt.Sprintf("%s/%d/", t.Name(), prefixes.Add(1)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		out["etcd"] = e
	}
	return out
}

// Key callers racing on one store, through two managers (replicas), all get
// the one keyset that was stored; racing rotations each add a version.
func TestConcurrentCallers(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			kek := newKEK(t)
			managers := []*Manager{New(s, kek), New(s, kek)}
			p := NewPairID(3, 1, 2)
			const n = 16
			keys := make([]Key, n)
			versions := make([]uint32, n)
			run := func(f func(i int, m *Manager) error) {
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						if err := f(i, managers[i%2]); err != nil {
							t.Error(err)
						}
					}()
				}
				close(start)
				wg.Wait()
			}
			run(func(i int, m *Manager) (err error) { keys[i], err = m.Key(ctx, p, AES256GCM); return err })
			for _, k := range keys {
				if !bytes.Equal(k.Material, keys[0].Material) {
					t.Fatalf("concurrent Key calls returned different keysets")
				}
			}
			run(func(i int, m *Manager) (err error) { versions[i], err = m.Rotate(ctx, p); return err })
			slices.Sort(versions)
			for i, v := range versions {
				if v != uint32(i+2) {
					t.Fatalf("concurrent rotations returned versions %v, want 2 to %d once each", versions, n+1)
				}
			}
			final, _ := managers[0].Key(ctx, p, AES256GCM)
			if got := versionsOf(t, final); len(got) != n+1 || !slices.Contains(got, 1) {
				t.Fatalf("after %d rotations the keyset holds %v", n, got)
			}
		})
	}
}
