package placementlog

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meshward/meshward/extauthz/eaas/keystore/etcdtest"
	"github.com/meshward/meshward/internal/election"
	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/rotation"
)

func state(t *testing.T, v uint64) rotation.State {
	c, err := catalog.Parse("c.yaml", []byte("services: [{name: orders, endpoints: [{address: 127.0.0.1, port: 1000}], ports: [1000, 2000]}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	st := rotation.New(c).Current().State()
	st.Version = v
	return st
}

func etcdClient(t *testing.T) *clientv3.Client {
	srv, err := etcdtest.Start(t.TempDir())
	if errors.Is(err, etcdtest.ErrMissing) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Kill)
	cli, err := clientv3.New(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// campaign runs a replica's election; each term's fence arrives on the
// channel, and the term lasts until the returned stop is called.
func campaign(t *testing.T, cli *clientv3.Client, id string) (<-chan election.Fence, context.CancelFunc) {
	e, err := election.NewEtcd(cli, "/meshward/election/xds", id, election.DefaultTiming)
	if err != nil {
		t.Fatal(err)
	}
	fences := make(chan election.Fence, 1)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		_ = e.Run(ctx, func(lctx context.Context) {
			f, _ := election.FenceOf(lctx)
			fences <- f
			<-lctx.Done()
		})
	}()
	return fences, cancel
}

// Versions are recorded once each, without a gap, and only by the leader
// of the moment: a leader whose term ended (a zombie that wakes up after
// its successor took over) records nothing. A follower sees every version
// in order.
func TestAppendFencedInOrder(t *testing.T) {
	cli := etcdClient(t)
	log := New(cli, "/meshward/xds/placements/")
	_, rev0, ok, err := log.Head(t.Context())
	if err != nil || ok {
		t.Fatalf("empty log: ok=%v err=%v", ok, err)
	}
	seen := make(chan uint64, 16)
	fctx, stopFollow := context.WithCancel(t.Context())
	defer stopFollow()
	go log.Follow(fctx, rev0, func(st rotation.State) { seen <- st.Version }, func(err error) { t.Error(err) })

	fa, stopA := campaign(t, cli, "a")
	a := <-fa
	for _, tc := range []struct {
		prev, v uint64
		fenced  bool
		want    string
	}{
		{0, 1, false, ""},
		{0, 1, true, "log moved on"},     // recorded twice
		{1, 3, false, "does not follow"}, // a gap
		{1, 2, false, ""},
		{1, 2, true, "log moved on"},
	} {
		err := log.Append(t.Context(), a, tc.prev, state(t, tc.v))
		switch {
		case tc.want == "" && err != nil:
			t.Fatalf("v%d after v%d: %v", tc.v, tc.prev, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, ErrFenced) != tc.fenced):
			t.Fatalf("v%d after v%d: error %v, want %q", tc.v, tc.prev, err, tc.want)
		}
	}
	fb, stopB := campaign(t, cli, "b")
	defer stopB()
	stopA()
	b := <-fb
	if err := log.Append(t.Context(), a, 2, state(t, 3)); !errors.Is(err, ErrFenced) {
		t.Fatalf("the old leader recorded v3 after its term: %v", err)
	}
	if err := log.Append(t.Context(), b, 2, state(t, 3)); err != nil {
		t.Fatal(err)
	}
	vs, err := log.Versions(t.Context())
	if err != nil || !slices.Equal(vs, []uint64{1, 2, 3}) {
		t.Fatalf("versions %v (%v), want 1 2 3", vs, err)
	}
	head, _, ok, err := log.Head(t.Context())
	if err != nil || !ok || head.Version != 3 {
		t.Fatalf("head v%d ok=%v err=%v", head.Version, ok, err)
	}
	for want := uint64(1); want <= 3; want++ {
		if got := <-seen; got != want {
			t.Fatalf("the follower saw v%d, want v%d", got, want)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, tc := range []struct {
		v    uint64
		rec  string
		want string
	}{
		{1, `{"version":2,"announced":1,"endpoints":{}}`, "says v2"},
		{1, `{"version":1,"endpoints":{},"owner":"x"}`, "unknown field"},
		{1, `{"version":1,"endpoints":{}} {}`, "data after"},
		{1, `[`, "v1"},
		{1, strings.Repeat(" ", MaxRecord+1), "more than"},
	} {
		if _, err := decode(tc.v, []byte(tc.rec)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.40q: error %v, want %q", tc.rec, err, tc.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(uint64(1), []byte(`{"version":1,"announced":1,"endpoints":{"orders":[{"Address":"127.0.0.1","Port":1000}]}}`))
	f.Add(uint64(7), []byte(`{"version":7,"extra":{"a":[]},"draining":{"a":true}}`))
	f.Fuzz(func(t *testing.T, v uint64, b []byte) {
		st, err := decode(v, b)
		if err == nil && st.Version != v {
			t.Fatalf("v%d decoded as v%d", v, st.Version)
		}
	})
}
