package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/meshward/meshward/extauthz/eaas/keystore"
	"github.com/meshward/meshward/extauthz/eaas/keystore/etcdtest"
	"github.com/meshward/meshward/extauthz/eaas/keystore/storetest"
)

// prefixes keeps the tests' keys apart in the shared etcd, across -count runs too.
var prefixes atomic.Uint64

func testPrefix(t *testing.T) string { return fmt.Sprintf("%s/%d/", t.Name(), prefixes.Add(1)) }

var shared etcdtest.Shared

func sharedEtcd(t *testing.T) *etcdtest.Server { return shared.Get(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Close()
	os.Exit(code)
}

func openEtcd(t *testing.T, srv *etcdtest.Server, prefix string) *Etcd {
	s, err := OpenEtcd(srv.Config(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// etcd killed with SIGKILL and started again on its data keeps every value
// whose Put returned.
func TestEtcdKill9(t *testing.T) {
	dir := t.TempDir()
	srv, err := etcdtest.Start(dir)
	if errors.Is(err, etcdtest.ErrMissing) {
		t.Skip("etcd is not installed (make etcd)")
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := openEtcd(t, srv, "kill9/")
	revs := map[string]uint64{}
	for i := range 50 {
		k := fmt.Sprint("key-", i)
		rev, err := s.Put(ctx, k, []byte(k), 0)
		if err != nil {
			t.Fatal(err)
		}
		revs[k] = rev
	}
	s.Close()
	srv.Kill()
	if srv, err = etcdtest.Start(dir); err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	s = openEtcd(t, srv, "kill9/")
	defer s.Close()
	for k, rev := range revs {
		it, err := s.Get(ctx, k)
		if err != nil || string(it.Value) != k || it.Rev != rev {
			t.Fatalf("%s after etcd's kill -9: %+v, %v; want it at rev %d", k, it, err, rev)
		}
	}
}

func TestEtcdListPages(t *testing.T) {
	ctx := context.Background()
	s := openEtcd(t, sharedEtcd(t), testPrefix(t))
	defer s.Close()
	const n = listPage*2 + 3
	for i := range n {
		if _, err := s.Put(ctx, fmt.Sprintf("p/%04d", i), nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	i := 0
	err := s.List(ctx, "p/", func(it keystore.Item) error {
		if want := fmt.Sprintf("p/%04d", i); it.Key != want {
			return fmt.Errorf("item %d is %q, want %q", i, it.Key, want)
		}
		i++
		return nil
	})
	if err != nil || i != n {
		t.Fatalf("List over pages: %d items, %v; want %d", i, err, n)
	}
}

func TestEtcdConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) keystore.Store { return openEtcd(t, sharedEtcd(t), testPrefix(t)) })
}
