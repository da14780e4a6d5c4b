package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	runtimev3 "github.com/envoyproxy/go-control-plane/envoy/service/runtime/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/xds/catalog"
)

// freePool is n loopback sockets of this test process's own, free when
// drawn (another process may take one later: the server then draws another).
func freePool(t *testing.T, n int) []netip.AddrPort {
	t.Helper()
	var out []netip.AddrPort
	for i := range n {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.66.%d.%d:0", os.Getpid()%250, 10+i))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ln.Addr().(*net.TCPAddr).AddrPort())
		ln.Close()
	}
	return out
}

type adsStream = discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient

// follower subscribes node to the announcement at addr and returns the
// stream and the address announced first.
func follower(t *testing.T, addr, node string, creds credentials.TransportCredentials) (adsStream, string) {
	t.Helper()
	s, err := ads(t, addr, creds)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: node}, TypeUrl: resource.RuntimeType,
		ResourceNames: []string{AnnounceName}}); err != nil {
		t.Fatal(err)
	}
	return s, announced(t, s)
}

// announced reads the next announcement on s and ACKs it.
func announced(t *testing.T, s adsStream) string {
	t.Helper()
	resp, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetResources()) != 1 {
		t.Fatalf("announcement: %d resources", len(resp.GetResources()))
	}
	var rt runtimev3.Runtime
	if err := resp.GetResources()[0].UnmarshalTo(&rt); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resource.RuntimeType, ResourceNames: []string{AnnounceName},
		VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}); err != nil {
		t.Fatal(err)
	}
	return rt.GetLayer().GetFields()[AnnounceAddressKey].GetStringValue()
}

func refuses(addr string) bool {
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.Close()
	}
	return err != nil
}

func selfPooled(t *testing.T, n int, sc catalog.Schedule) *Running {
	t.Helper()
	return start(t, twoServices, Config{Admin: AdminAuth{Token: testToken}, Self: SelfRotation{Pool: freePool(t, n)}, Defaults: sc})
}

// A node that follows the announcement hears of the next address while the
// old one still accepts (announce, then close), reconnects there, and the
// move ends once it did; then the old address refuses connections (a
// scanner that found the port finds it closed) and the old stream is over.
func TestMoveSelfAnnouncesBeforeItCloses(t *testing.T) {
	r := selfPooled(t, 4, catalog.Schedule{AckTimeout: time.Minute, HardDeadline: time.Minute})
	old := r.ADSAddr().String()
	s, first := follower(t, old, "frontend", insecure.NewCredentials())
	if first != old {
		t.Fatalf("first announcement %q, the server listens on %s", first, old)
	}
	done := moveSelfAsync(t, r, "admin")
	next := announced(t, s)
	if next == old || refuses(next) || refuses(old) {
		t.Fatalf("announced %s (from %s): the new one must accept already and the old one still (new refuses: %v, old refuses: %v)",
			next, old, refuses(next), refuses(old))
	}
	s2, again := follower(t, next, "frontend", insecure.NewCredentials())
	rec := <-done
	if again != next || rec.To != next || rec.From != old || rec.Moved != 1 || rec.Lagging != 0 {
		t.Fatalf("record %+v, announced %s then %s", rec, next, again)
	}
	if !refuses(old) {
		t.Fatalf("the old address %s still accepts connections", old)
	}
	if _, err := s.Recv(); err == nil || !strings.Contains(err.Error(), "moved") {
		t.Errorf("the old stream: %v, want it ended (the control plane moved)", err)
	}
	if r.ADSAddr().String() != next || r.Status().ControlPlane.Address != next || r.Status().ControlPlane.NodesOn[next] != 1 {
		t.Errorf("status %+v, want the node on %s", r.Status().ControlPlane, next)
	}
	_ = s2
	if got := testutil.ToFloat64(r.selfMetrics.moves.WithLabelValues("admin", "done")); got != 1 {
		t.Errorf("moves{admin,done} = %v", got)
	}
}

// A node that does not follow the announcement (grpc-go, Envoy) is moved by
// the close: its stream ends and it reconnects through its bootstrap; one
// that never comes back is reported by node id once the hard deadline
// passed, and forgotten.
func TestMoveSelfReportsNodesThatNeverReconnect(t *testing.T) {
	r := selfPooled(t, 3, catalog.Schedule{AckTimeout: 50 * time.Millisecond, HardDeadline: 300 * time.Millisecond})
	old := r.ADSAddr().String()
	gone, _ := follower(t, old, "gone", insecure.NewCredentials())
	plain, err := ads(t, old, insecure.NewCredentials())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := listeners(plain, nil, "orders"); err != nil { // node frontend, not subscribed to the announcement
		t.Fatal(err)
	}
	done := moveSelfAsync(t, r, "timer")
	if _, err := plain.Recv(); err == nil { // ended by the close
		t.Fatal("the old stream of a node that does not follow was not ended")
	}
	back, err := ads(t, r.ADSAddr().String(), insecure.NewCredentials())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := listeners(back, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	rec := <-done
	_ = gone
	if rec.Nodes != 2 || rec.Moved != 1 || rec.Lagging != 1 || len(rec.Laggards) != 1 || rec.Laggards[0] != "gone" {
		t.Fatalf("record %+v, want frontend moved and gone reported", rec)
	}
	if got := testutil.ToFloat64(r.selfMetrics.laggards); got != 1 {
		t.Errorf("laggards = %v", got)
	}
	r.mu.Lock()
	_, kept := r.nodes["gone"]
	r.mu.Unlock()
	if kept {
		t.Error("a node that never came back is still known")
	}
}

// A workload that binds an address of the pool before the control plane
// moves there never gets it announced: the server draws another.
func TestMoveSelfSkipsSquattedAddresses(t *testing.T) {
	p := freePool(t, 5)
	r := start(t, twoServices, Config{Admin: AdminAuth{Token: testToken}, Self: SelfRotation{Pool: p, Recent: 1},
		Defaults: catalog.Schedule{AckTimeout: time.Minute, HardDeadline: time.Minute}})
	var squat net.Listener
	for _, a := range p {
		if a.String() == r.ADSAddr().String() {
			continue
		}
		ln, err := net.Listen("tcp", a.String())
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		squat = ln
		break
	}
	for range 6 {
		rec, err := r.MoveSelf(context.Background(), "admin")
		if err != nil {
			t.Fatal(err)
		}
		if rec.To == squat.Addr().String() {
			t.Fatalf("moved to %s, which a workload holds", rec.To)
		}
	}
}

// While the port moves, a node holds streams on both addresses for a
// moment: with the limit at 2 streams per identity, an identity with 2 on
// the old address still opens 2 on the new one, and a third there is
// refused.
func TestStreamLimitDuringSelfMove(t *testing.T) {
	mesh, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := mesh.Issue(identity.SPIFFE("meshward-system", "meshward-xds"))
	front := identity.SPIFFE("shop", "frontend")
	cert, _ := mesh.Issue(front)
	cfg := mesh.ClientTLS(cert)
	cfg.ServerName = "localhost" // the test certificates name localhost, not the pool's addresses
	creds := credentials.NewTLS(cfg)
	r := start(t, twoServices, Config{TLS: mesh.ServerTLS(srv), Admin: AdminAuth{Token: testToken}, MaxStreamsPerIdentity: 2,
		Self: SelfRotation{Pool: freePool(t, 3)}, Defaults: catalog.Schedule{AckTimeout: time.Minute, HardDeadline: time.Minute}})
	old := r.ADSAddr().String()
	a, _ := follower(t, old, front+"~a", creds)
	b, _ := follower(t, old, front+"~b", creds)
	done := moveSelfAsync(t, r, "admin")
	next := announced(t, a)
	if announced(t, b) != next {
		t.Fatal("two nodes told different addresses")
	}
	follower(t, next, front+"~a", creds)
	follower(t, next, front+"~b", creds)
	rec := <-done
	if rec.Moved != 2 || rec.Lagging != 0 {
		t.Fatalf("record %+v", rec)
	}
	waitFor(t, func() bool { n, _ := r.acks.connected(); return n == 2 }) // the old streams are closed
	third, err := ads(t, next, creds)
	if err == nil {
		_, err = third.Recv()
	}
	if third != nil {
		_ = third.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: front + "~c"}, TypeUrl: resource.RuntimeType})
		_, err = third.Recv()
	}
	if err == nil || !strings.Contains(err.Error(), "too many ADS streams") {
		t.Errorf("a third stream: %v, want too many", err)
	}
}

// POST /rotate-self is an admin call like the others: without the token it
// moves nothing; with it the port moves; a server without a pool says so.
func TestRotateSelfIsAuthenticated(t *testing.T) {
	r := selfPooled(t, 3, catalog.Schedule{AckTimeout: time.Minute, HardDeadline: time.Minute})
	url := "http://" + r.AdminAddr.String() + "/rotate-self"
	before := r.ADSAddr().String()
	for _, auth := range []string{"-", "Bearer wrong-token-0123456789", "Basic " + string(testToken)} {
		if code, _ := call(t, http.DefaultClient, "POST", url, auth); code != http.StatusUnauthorized {
			t.Errorf("%q: %d, want 401", auth, code)
		}
	}
	if r.ADSAddr().String() != before || !refusesNot(before) {
		t.Fatal("a refused call moved the control plane")
	}
	code, body := call(t, http.DefaultClient, "POST", url, "Bearer "+string(testToken))
	if code != http.StatusOK || !strings.Contains(body, `"to":"`+r.ADSAddr().String()+`"`) || r.ADSAddr().String() == before {
		t.Fatalf("%d %s", code, body)
	}
	fixed := start(t, twoServices, Config{Admin: AdminAuth{Token: testToken}})
	code, body = call(t, http.DefaultClient, "POST", "http://"+fixed.AdminAddr.String()+"/rotate-self", "Bearer "+string(testToken))
	if code != http.StatusConflict || !strings.Contains(body, "no address pool") {
		t.Errorf("without a pool: %d %s", code, body)
	}
}

func refusesNot(addr string) bool { return !refuses(addr) }

// A node that reconnects across a move of the control plane is not a new
// node: it is sent what it holds, under the version it holds (a new node's
// versions start again at 1), and once it acknowledged that, no service
// move waits for it.
func TestReconnectAcrossSelfMoveKeepsVersions(t *testing.T) {
	r := selfPooled(t, 3, catalog.Schedule{AckTimeout: time.Minute, HardDeadline: time.Minute, Grace: time.Millisecond})
	node := identity.SPIFFE("shop", "frontend") // the node listeners() names
	old := subscribe(t, r, node)
	moved := make(chan error)
	go func() { _, err := r.Move(context.Background(), "orders", 3000, "admin"); moved <- err }()
	old.recv(t)
	old.send(t, nil) // the ACK the move waits for
	if err := <-moved; err != nil {
		t.Fatal(err)
	}
	held := old.last.GetVersionInfo()
	done := moveSelfAsync(t, r, "admin")
	if _, err := old.s.Recv(); err == nil { // the node does not follow: the close ends its stream
		t.Fatal("the old stream was not ended")
	}
	s, err := ads(t, r.ADSAddr().String(), insecure.NewCredentials())
	if err != nil {
		t.Fatal(err)
	}
	again := &edsClient{s: s, node: node, last: &discoveryv3.DiscoveryResponse{VersionInfo: held}}
	again.send(t, nil) // the version it holds, no nonce: a new stream
	again.recv(t)
	if got := again.last.GetVersionInfo(); held == "1" || got != held {
		t.Fatalf("sent version %q on the new stream, the node holds %q", got, held)
	}
	again.send(t, nil)
	if rec := <-done; rec.Moved != 1 {
		t.Fatalf("record %+v", rec)
	}
	// A stream's requests are taken in order: once the listener answer is
	// back, the server has taken the ACK before it.
	if _, got, err := listeners(s, nil, "orders"); err != nil || len(got) != 1 {
		t.Fatalf("listeners: %v %v", got, err)
	}
	callers := waitSet{typ: resource.EndpointType, names: clusterNames(mustLookup(t, r, "orders"))}
	r.acks.mu.Lock()
	behind := r.acks.pending(callers)
	r.acks.mu.Unlock()
	if len(behind) != 0 {
		t.Errorf("behind: %v", behind)
	}
}

func mustLookup(t *testing.T, r *Running, name string) catalog.Service {
	t.Helper()
	s, ok := r.planner.Catalog().Lookup(name)
	if !ok {
		t.Fatal(name)
	}
	return s
}

// moveSelfAsync moves the control plane in the background; the record
// comes on the channel when the move is over.
func moveSelfAsync(t *testing.T, r *Running, trigger string) <-chan SelfMoveRecord {
	done := make(chan SelfMoveRecord, 1)
	go func() {
		rec, err := r.MoveSelf(context.Background(), trigger)
		if err != nil {
			t.Error(err)
		}
		done <- rec
	}()
	return done
}
