package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meshward/meshward/extauthz/eaas/keystore/etcdtest"
	"github.com/meshward/meshward/xds/placementlog"
	"github.com/meshward/meshward/xds/rotation"
)

type xdsReplica struct {
	id, admin, ads string
	cmd            *exec.Cmd
	logs           *syncBuffer
}

const xdsAdminToken = "xds-admin-token-0123456789abcdef"

func startXDSReplica(t *testing.T, bin, dir, etcd, id string) *xdsReplica {
	t.Helper()
	r := &xdsReplica{id: id, logs: &syncBuffer{}}
	r.cmd = exec.Command(bin, "--catalog", filepath.Join(dir, "catalog.yaml"), "--addr", "127.0.0.1:0",
		"--admin-addr", "127.0.0.1:0", "--admin-token-file", filepath.Join(dir, "token"), "--grace", "5s",
		"--etcd-endpoints", etcd, "--replica-id", id, "--reload-every", "0")
	t.Cleanup(r.kill)
	var line struct{ Admin, ADS string }
	startUntilServing(t, r.cmd, r.logs, "xds serving", &line)
	r.admin, r.ads = line.Admin, line.ADS
	return r
}

func (r *xdsReplica) kill() { killProcess(r.cmd) }

// call is an admin call: its status and, on 200, the placement answered.
func (r *xdsReplica) call(t *testing.T, method, path string) (int, placementJSON) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+r.admin+path, nil)
	req.Header.Set("Authorization", "Bearer "+xdsAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p placementJSON
	if resp.StatusCode == 200 {
		must(t, json.NewDecoder(resp.Body).Decode(&p))
	}
	return resp.StatusCode, p
}

type placementJSON struct {
	Version   uint64              `json:"version"`
	Endpoints map[string][]string `json:"endpoints"`
	Also      map[string][]string `json:"also_serving"`
}

// records reads every placement the log holds, in order.
func records(t *testing.T, cli *clientv3.Client) []rotation.State {
	t.Helper()
	resp, err := cli.Get(t.Context(), "/meshward/xds/placements/v/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	must(t, err)
	var out []rotation.State
	for _, kv := range resp.Kvs {
		var st rotation.State
		must(t, json.Unmarshal(kv.Value, &st))
		out = append(out, st)
	}
	return out
}

// Three xDS replicas on a real etcd: only the leader moves services
// (followers refuse POST /rotate with 503), every replica serves the
// leader's placements, and kill -9 of the leader in the middle of a move
// (announced, old sockets draining) hands over to another replica within
// 15 s, which finishes that move instead of drawing another: the log's
// versions run without a gap or a repeat.
func TestLeaderXDSReplicasTakeOver(t *testing.T) {
	bin := os.Getenv("MESHWARD_XDS")
	if bin == "" {
		t.Skip("MESHWARD_XDS is not set: `make test` builds build/xds and sets it")
	}
	srv, err := etcdtest.Start(t.TempDir())
	if errors.Is(err, etcdtest.ErrMissing) {
		t.Skip(err)
	}
	must(t, err)
	t.Cleanup(srv.Kill)
	cli, err := clientv3.New(srv.Config())
	must(t, err)
	defer cli.Close()
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "token"), []byte(xdsAdminToken), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "catalog.yaml"), []byte(`services:
  - name: orders
    endpoints: [{address: 127.0.0.1, port: 21000}]
    ports: [21001, 21002, 21003, 21004, 21005, 21006]
`), 0o600))
	reps := []*xdsReplica{}
	for _, id := range []string{"x1", "x2", "x3"} {
		reps = append(reps, startXDSReplica(t, bin, dir, srv.Endpoint(), id))
	}
	var leader *xdsReplica
	wbWait(t, "a leader that moves orders", func() bool {
		for _, r := range reps {
			if code, _ := r.call(t, "POST", "/rotate?service=orders"); code == 200 {
				leader = r
				return true
			}
		}
		return false
	})
	for _, r := range reps {
		if r == leader {
			continue
		}
		if code, _ := r.call(t, "POST", "/rotate?service=orders"); code != http.StatusServiceUnavailable {
			t.Fatalf("follower %s answered POST /rotate with %d, want 503", r.id, code)
		}
	}
	// The next move waits for the last one's drain (5 s), then is
	// announced; the leader dies while its old sockets drain.
	code, moved := leader.call(t, "POST", "/rotate?service=orders")
	if code != 200 {
		t.Fatalf("rotate: %d", code)
	}
	for _, r := range reps {
		wbWait(t, r.id+" serves the move", func() bool {
			_, p := r.call(t, "GET", "/placement")
			return slices.Equal(p.Endpoints["orders"], moved.Endpoints["orders"])
		})
	}
	// A client of the leader, which is about to die.
	client := watchEDS(t, leader.ads, "checkout-1", "orders")
	client.until(t, moved.Endpoints["orders"])
	before := len(records(t, cli))
	if rs := records(t, cli); len(rs[len(rs)-1].Extra["orders"]) == 0 {
		t.Fatalf("the move's old sockets were closed before the leader could be killed mid-move (grace 5 s): %v", versionsOf(rs))
	}
	leader.kill()
	killed := time.Now()
	var next *xdsReplica
	live := slices.DeleteFunc(slices.Clone(reps), func(r *xdsReplica) bool { return r == leader })
	client.ended()
	// It connects again, to another replica (a Service's address would
	// pick one), and is told where orders is now.
	client = watchEDS(t, live[len(live)-1].ads, "checkout-1", "orders")
	client.until(t, moved.Endpoints["orders"])
	wbWait(t, "another leader", func() bool { l := electedXDS(t, cli); return l != "" && l != leader.id })
	takeover := time.Since(killed)
	wbWait(t, "the half-done move finished by another replica", func() bool {
		rs := records(t, cli)
		return len(rs) > before && len(rs[len(rs)-1].Extra["orders"]) == 0
	})
	t.Logf("leader %s killed mid-move: %s elected %v later, the move finished %v later", leader.id, electedXDS(t, cli), takeover, time.Since(killed))
	if takeover > 15*time.Second {
		t.Fatalf("takeover took %v, more than 15 s", takeover)
	}
	rs := records(t, cli)
	for i, st := range rs {
		if st.Version != rs[0].Version+uint64(i) {
			t.Fatalf("the log's versions jump: %v", versionsOf(rs))
		}
	}
	last := rs[len(rs)-1]
	if got := endpointsOf(last, "orders"); !slices.Equal(got, moved.Endpoints["orders"]) || len(rs) != before+1 {
		t.Fatalf("after the takeover the log holds %v (v%d: %v), want only the close of the move to %v",
			versionsOf(rs), last.Version, got, moved.Endpoints["orders"])
	}
	for _, r := range live {
		defer func() {
			if t.Failed() {
				t.Logf("%s:\n%s", r.id, r.logs.String())
			}
		}()
		wbWait(t, r.id+" serves the finished move", func() bool {
			_, p := r.call(t, "GET", "/placement")
			return slices.Equal(p.Endpoints["orders"], moved.Endpoints["orders"]) && len(p.Also["orders"]) == 0
		})
	}
	for _, r := range live {
		if code, p := r.call(t, "POST", "/rotate?service=orders"); code == 200 {
			next = r
			if slices.Equal(p.Endpoints["orders"], moved.Endpoints["orders"]) {
				t.Fatalf("the new leader's move left orders where it was")
			}
		}
	}
	if next == nil {
		t.Fatal("no live replica moves services after the takeover")
	}
	_, now := next.call(t, "GET", "/placement")
	client.until(t, now.Endpoints["orders"]) // the new leader's move reaches it, whichever replica it is on
	if strings.Contains(next.logs.String(), "replica:") {
		t.Fatalf("the new leader reported a replica behind although every client acknowledged:\n%s", next.logs.String())
	}
	// A client of a follower that never acknowledges: the leader's move
	// waits for it as for its own clients, and reports that replica behind.
	var follower *xdsReplica
	for _, r := range live {
		if r != next {
			follower = r
		}
	}
	mute := openEDS(t, follower.ads, "mute-1", "orders")
	if _, err := mute.s.Recv(); err != nil { // taken, never acknowledged
		t.Fatal(err)
	}
	if code, _ := next.call(t, "POST", "/rotate?service=orders"); code != 200 {
		t.Fatalf("rotate: %d", code)
	}
	wbWait(t, "the leader reporting "+follower.id+" behind", func() bool {
		return containsAll(next.logs.String(), `"service moved"`, `"replica:`+follower.id+`"`)
	})
	if _, err := placementlog.New(cli, "/meshward/xds/placements/").Versions(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// electedXDS is the replica whose election key is the oldest: the leader.
func electedXDS(t *testing.T, cli *clientv3.Client) string {
	resp, err := cli.Get(t.Context(), "/meshward/xds/leader/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend), clientv3.WithLimit(1))
	if err != nil || len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

func versionsOf(rs []rotation.State) []uint64 {
	out := make([]uint64, len(rs))
	for i, st := range rs {
		out[i] = st.Version
	}
	return out
}

func endpointsOf(st rotation.State, service string) []string {
	var out []string
	for _, e := range st.Endpoints[service] {
		out = append(out, fmt.Sprintf("%s:%d", e.Address, e.Port))
	}
	return out
}
