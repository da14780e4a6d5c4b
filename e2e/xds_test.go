package e2e

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/meshward/meshward/e2e/system"
)

// grpc-go's proxyless xDS client keeps calling orders while meshward's xDS
// server moves its endpoint to another port; the old backend drains once the
// client has moved; no call fails, and the calls end on the new port.
func TestXDSEndpointMoveLosesNoCalls(t *testing.T) {
	if inOwnProcess(t) {
		return
	}
	rep, err := system.MoveUnderLoad(context.Background(), 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("moved %s -> %s; the client followed in %v; calls: %d old, %d new, %d failed",
		rep.OldAddr, rep.NewAddr, rep.Followed, rep.CallsOld, rep.CallsNew, rep.Failed)
	checkMove(t, rep)
}

func checkMove(t *testing.T, rep system.MoveReport) {
	t.Helper()
	if rep.Failed != 0 {
		t.Fatalf("%d calls to orders failed; first: %v", rep.Failed, rep.FirstError)
	}
	if rep.CallsOld == 0 || rep.CallsNew == 0 {
		t.Fatalf("calls: %d old, %d new; want some on each", rep.CallsOld, rep.CallsNew)
	}
	for _, o := range rep.Others {
		t.Logf("%s: %d calls on %s, %d elsewhere, %d failed", o.Service, o.Calls, o.Addr, o.Elsewhere, o.Failed)
		if o.Failed != 0 || o.Elsewhere != 0 || o.Calls == 0 {
			t.Errorf("%s: %d calls, %d failed (first: %v), %d answered elsewhere; want calls, all on its own backend",
				o.Service, o.Calls, o.Failed, o.FirstError, o.Elsewhere)
		}
	}
}

// Five services in the catalog, grpc-go's proxyless client calling each at
// once: every service resolves (with two or more, grpc-go used to report
// "resource orders has been removed" and no call succeeded), orders moves
// under load without a failed call, and the others are untouched. Before
// the move, an attacker on the admin API is refused: without the token it
// can neither read the placement nor rotate; with it, it cannot send orders
// to port 1 or to another service's port. The placement stays as it was.
func TestXDSManyServicesAdminAttacksRefused(t *testing.T) {
	if inOwnProcess(t) {
		return
	}
	rep, err := system.MoveAmong(context.Background(), system.MoveOptions{
		Services: 5, Settle: 300 * time.Millisecond, Meanwhile: func(x *system.XDS) error { return attackAdmin(t, x) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("moved %s -> %s among 5 services; the client followed in %v; calls: %d old, %d new, %d failed",
		rep.OldAddr, rep.NewAddr, rep.Followed, rep.CallsOld, rep.CallsNew, rep.Failed)
	if len(rep.Others) != 4 {
		t.Fatalf("%d other services reported, want 4", len(rep.Others))
	}
	checkMove(t, rep)
}

func attackAdmin(t *testing.T, x *system.XDS) error {
	_, victimPort, _ := net.SplitHostPort(x.Backends["svc-1"])
	before := x.Server.Current()
	for _, a := range []struct {
		name, method, path, token string
		code                      int
	}{
		{"read the placement without a token", "GET", "/placement", "", 401},
		{"rotate without a token", "POST", "/rotate?service=orders&port=1", "", 401},
		{"rotate with a wrong token", "POST", "/rotate?service=orders", x.Token[:len(x.Token)-1] + "x", 401},
		{"rotate orders to port 1", "POST", "/rotate?service=orders&port=1", x.Token, 400},
		{"rotate orders to svc-1's port", "POST", "/rotate?service=orders&port=" + victimPort, x.Token, 409},
		{"rotate svc-1 to orders' port", "POST", "/rotate?service=svc-1&port=" + strconv.Itoa(port(t, x.Backends["orders"])), x.Token, 409},
	} {
		code, err := x.Admin(a.method, a.path, a.token)
		if err != nil {
			return err
		}
		if code != a.code {
			t.Errorf("%s: status %d, want %d", a.name, code, a.code)
		}
	}
	if after := x.Server.Current(); after != before {
		t.Errorf("the refused calls changed the placement: version %d -> %d", before.Version, after.Version)
	}
	return nil
}

func port(t *testing.T, addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// The same over ADS with mutual TLS: grpc-go's client presents a mesh
// certificate named in its bootstrap ("tls" channel creds), and the move
// still loses no call.
func TestXDSOverMutualTLS(t *testing.T) {
	if inOwnProcess(t) {
		return
	}
	rep, err := system.MoveAmong(context.Background(), system.MoveOptions{Services: 3, Settle: 300 * time.Millisecond, MTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("over mTLS: moved %s -> %s; followed in %v; calls: %d old, %d new, %d failed",
		rep.OldAddr, rep.NewAddr, rep.Followed, rep.CallsOld, rep.CallsNew, rep.Failed)
	checkMove(t, rep)
}

// A hundred moves of orders under load, each to a port and an address the
// server draws from its pools, make-before-break: grpc-go's proxyless
// clients follow every one, no call fails, and the calls end on the last
// endpoint.
func TestXDSHundredRotationsUnderLoad(t *testing.T) {
	if inOwnProcess(t) {
		return
	}
	rep, err := system.RotateMany(context.Background(), system.RotateOptions{Rotations: 100, Ports: 6, Addresses: 4, Workers: 4, Pause: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d moves (mean %v each, until every client acknowledged); %d calls, %d failed, on %d sockets; final %s",
		rep.Rotations, rep.MeanMove, rep.Calls, rep.Failed, rep.Sockets, rep.Final)
	if rep.Failed != 0 {
		t.Fatalf("%d calls failed; first: %v", rep.Failed, rep.FirstError)
	}
	// 16 sockets may answer: the initial one, then 3 pool addresses × 5
	// pool ports; most of them must have.
	if rep.Rotations != 100 || rep.Sockets < 12 || !rep.LastOnFinal {
		t.Fatalf("%d moves, calls on %d sockets, last call on the final endpoint: %v", rep.Rotations, rep.Sockets, rep.LastOnFinal)
	}
}
