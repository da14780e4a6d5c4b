package lateral

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Unix(1_000_000, 0)

func kinds(as []Alert) string {
	s := ""
	for _, a := range as {
		s += a.Kind + " "
	}
	return s
}

func TestFanOut(t *testing.T) {
	d := New(Config{Window: time.Minute, MaxDestinations: 3, MaxPorts: 5, MaxNewEdges: 1, MaxSources: 10})
	d.StopLearning()
	var got []Alert
	for i := 0; i < 4; i++ {
		got = append(got, d.Observe(Event{Source: "scan", Destination: fmt.Sprint("svc", i), Port: 80, Time: t0.Add(time.Duration(i) * time.Second)})...)
	}
	if kinds(got) != "new-edges fan-out-destinations " {
		t.Fatalf("alerts %q", kinds(got))
	}
	// Raised once per window: more of the same adds nothing.
	if a := d.Observe(Event{Source: "scan", Destination: "svc9", Port: 80, Time: t0.Add(5 * time.Second)}); len(a) != 0 {
		t.Fatalf("repeated alert %q", kinds(a))
	}
	// Ports count as ports, not destinations (two destinations stay under
	// MaxDestinations), each destination adding at most portsPerDestination.
	got = nil
	for p := uint32(1); p <= 6; p++ {
		got = append(got, d.Observe(Event{Source: "portscan", Destination: "db", Port: p, Time: t0})...)
		got = append(got, d.Observe(Event{Source: "portscan", Destination: "cache", Port: p, Time: t0})...)
	}
	if kinds(got) != "new-edges fan-out-ports " {
		t.Fatalf("port scan: %q", kinds(got))
	}
}

// Issue 8, red team: the sidecar of one compromised workload vouches for
// what reaches its own workload, ports included. Thirty ports "scanned" by
// a source on that one destination must not get the source flagged, neither
// while learning (raising its peak) nor after.
func TestOneDestinationCannotFrameASource(t *testing.T) {
	d := New(Config{Window: time.Minute, MaxDestinations: 3, MaxPorts: 5, MaxNewEdges: 100, MaxSources: 10})
	for p := uint32(1); p <= 30; p++ {
		d.Observe(Event{Source: "framed", Destination: "catalog", Port: 1000 + p, Time: t0})
	}
	if pk := d.peak["framed"]; pk[1] > portsPerDestination {
		t.Fatalf("learned port peak %d from one destination", pk[1])
	}
	d.StopLearning()
	for p := uint32(1); p <= 30; p++ {
		if a := d.Observe(Event{Source: "victim", Destination: "catalog", Port: p, Time: t0.Add(time.Second)}); len(a) != 0 {
			t.Fatalf("port %d of one destination raised %q", p, kinds(a))
		}
	}
	// And the counts follow expiry: a minute later the destination's ports
	// count again from zero.
	for p := uint32(1); p <= portsPerDestination; p++ {
		d.Observe(Event{Source: "victim", Destination: "catalog", Port: 100 + p, Time: t0.Add(2 * time.Minute)})
	}
	if n := d.sources["victim"].ports["catalog"]; n != portsPerDestination {
		t.Fatalf("after expiry, %d ports of catalog counted, want %d", n, portsPerDestination)
	}
}

func TestWindowSlides(t *testing.T) {
	d := New(Config{Window: time.Minute, MaxDestinations: 3, MaxPorts: 100, MaxNewEdges: 100, MaxSources: 10})
	d.StopLearning()
	// One new destination every 30 s never has more than 3 in a minute.
	for i := 0; i < 20; i++ {
		if a := d.Observe(Event{Source: "slow", Destination: fmt.Sprint("svc", i), Port: 80, Time: t0.Add(time.Duration(i) * 30 * time.Second)}); len(a) != 0 {
			t.Fatalf("event %d: %q", i, kinds(a))
		}
	}
}

func TestLearning(t *testing.T) {
	d := New(Config{Window: time.Minute, MaxDestinations: 3, MaxPorts: 100, MaxNewEdges: 0, MaxSources: 10})
	// A gateway that calls 8 services while learning is not flagged for doing so later.
	for i := 0; i < 8; i++ {
		d.Observe(Event{Source: "gw", Destination: fmt.Sprint("svc", i), Port: 80, Time: t0})
		d.Observe(Event{Source: "app", Destination: "db", Port: 5432, Time: t0})
	}
	d.StopLearning()
	later := t0.Add(10 * time.Minute)
	for i := 0; i < 8; i++ {
		if a := d.Observe(Event{Source: "gw", Destination: fmt.Sprint("svc", i), Port: 80, Time: later}); len(a) != 0 {
			t.Fatalf("learned fan-out flagged: %q", kinds(a))
		}
	}
	if a := d.Observe(Event{Source: "app", Destination: "db", Port: 5432, Time: later}); len(a) != 0 {
		t.Fatalf("learned edge flagged: %q", kinds(a))
	}
	if a := d.Observe(Event{Source: "app", Destination: "secrets", Port: 443, Time: later}); kinds(a) != "new-edges " {
		t.Fatalf("new edge: %q", kinds(a))
	}
	if e := d.Edges(); len(e["gw"]) != 8 || len(e["app"]) != 1 {
		t.Fatalf("edges %v", e)
	}
}

func TestBoundedMemory(t *testing.T) {
	d := New(Config{Window: time.Hour, MaxDestinations: 10, MaxPorts: 10, MaxNewEdges: 10, MaxSources: 100})
	d.StopLearning()
	for p := 0; p < 100_000; p++ {
		d.Observe(Event{Source: "scanner", Destination: "db", Port: uint32(p), Time: t0})
	}
	if n := len(d.sources["scanner"].last); n > 100 {
		t.Fatalf("a port scan left %d keys", n)
	}
	for i := 0; i < 1000; i++ {
		d.Observe(Event{Source: fmt.Sprint("s", i), Destination: "db", Port: 1, Time: t0})
	}
	if n := len(d.sources); n > 100 {
		t.Fatalf("%d sources kept, bound 100", n)
	}
}
