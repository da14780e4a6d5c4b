package rotation

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshward/meshward/xds/catalog"
)

func testCatalog(t *testing.T) *catalog.Catalog {
	c, err := catalog.Parse("c.yaml", []byte(`
services:
  - name: orders
    endpoints: [{address: 127.0.0.1, port: 1000}, {address: 127.0.0.2, port: 1000}]
    ports: [1000, 2000, 3000]
  - name: fixed
    endpoints: [{address: 127.0.0.1, port: 5}]
`))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Rotate draws a pool port that is neither the current one nor the one
// just left (a pool of three keeps one recent), moves every endpoint there
// and keeps their addresses; older placements never change.
func TestRotate(t *testing.T) {
	p := New(testCatalog(t))
	first := p.Current()
	prev, cur := uint32(0), uint32(1000)
	seen := map[uint32]int{}
	for i := 0; i < 300; i++ {
		pl, err := p.Rotate("orders")
		if err != nil {
			t.Fatal(err)
		}
		eps := pl.Endpoints("orders")
		if eps[0].Address != "127.0.0.1" || eps[1].Address != "127.0.0.2" || eps[0].Port != eps[1].Port {
			t.Fatalf("rotation changed addresses or split ports: %v", eps)
		}
		next := eps[0].Port
		if next == cur || next == prev || !slices.Contains([]uint32{1000, 2000, 3000}, next) {
			t.Fatalf("move %d: %d -> %d (before: %d)", i, cur, next, prev)
		}
		if len(pl.Serving("orders")) != 2 {
			t.Fatalf("after the move the old sockets are still served: %v", pl.Serving("orders"))
		}
		seen[next]++
		prev, cur = cur, next
	}
	if first.Endpoints("orders")[0].Port != 1000 || first.Version != 1 || p.Current().Version != 1+3*300 {
		t.Fatalf("an old placement changed, or versions are off: %v v%d, now v%d", first.Endpoints("orders"), first.Version, p.Current().Version)
	}
	if p.Current().Endpoints("fixed")[0].Port != 5 || len(seen) != 3 {
		t.Fatalf("rotating orders moved another service, or missed a port: %v", seen)
	}
}

// Draws from a range are uniform enough and avoid the recent half of it:
// with a range of 8, no port returns within 4 moves.
func TestRotateRangeAvoidsRecent(t *testing.T) {
	c, err := catalog.Parse("c.yaml", []byte(`
services:
  - name: orders
    endpoints: [{address: 127.0.0.1, port: 100}]
    portRange: {from: 2000, to: 2007}
`))
	if err != nil {
		t.Fatal(err)
	}
	p := New(c)
	var ports []uint32
	counts := map[uint32]int{}
	for range 4000 {
		pl, err := p.Rotate("orders")
		if err != nil {
			t.Fatal(err)
		}
		port := pl.Endpoints("orders")[0].Port
		if port < 2000 || port > 2007 {
			t.Fatalf("port %d outside the range", port)
		}
		if i := slices.Index(last(ports, 4), port); i >= 0 {
			t.Fatalf("port %d came back within 4 moves: %v", port, last(ports, 4))
		}
		ports = append(ports, port)
		counts[port]++
	}
	for port, n := range counts {
		if n < 300 || n > 700 { // 500 expected each
			t.Errorf("port %d drawn %d times of 4000: not uniform", port, n)
		}
	}
}

// With an address pool every endpoint moves to an address of its own,
// none of the current ones.
func TestRotateAddresses(t *testing.T) {
	c, err := catalog.Parse("c.yaml", []byte(`
services:
  - name: orders
    endpoints: [{address: 127.0.0.1, port: 100}, {address: 127.0.0.2, port: 100}]
    addresses: [127.0.0.10, 127.0.0.11, 127.0.0.12, 127.0.0.13, 127.0.0.14]
`))
	if err != nil {
		t.Fatal(err)
	}
	p := New(c)
	cur := p.Current().Endpoints("orders")
	for range 200 {
		pl, err := p.Rotate("orders")
		if err != nil {
			t.Fatal(err)
		}
		eps := pl.Endpoints("orders")
		if eps[0].Address == eps[1].Address || eps[0].Port != 100 {
			t.Fatalf("two endpoints on one socket, or the port moved: %v", eps)
		}
		for _, e := range eps {
			if !slices.ContainsFunc(cur, func(o catalog.Endpoint) bool { return o.Address == e.Address }) &&
				!slices.Contains([]string{"127.0.0.10", "127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"}, e.Address) {
				t.Fatalf("address %s outside the pool", e.Address)
			}
			if slices.ContainsFunc(cur, func(o catalog.Endpoint) bool { return o.Address == e.Address }) {
				t.Fatalf("an endpoint stayed on a current address: %v -> %v", cur, eps)
			}
		}
		cur = eps
	}
}

// Make-before-break: the new sockets are served before callers hear of
// them, the old ones are served until Close; a second move waits.
func TestMoveSteps(t *testing.T) {
	p := New(testCatalog(t))
	m, err := p.PlanPort("orders", 2000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Plan("orders"); !errors.Is(err, ErrMoving) {
		t.Fatalf("a second move while one is under way: %v", err)
	}
	ports := func(eps []catalog.Endpoint) []uint32 { return endpointPorts(eps) }
	steps := []struct {
		do                 func(Move) (*Placement, error)
		announced, serving []uint32
	}{
		{p.Open, []uint32{1000, 1000}, []uint32{1000, 1000, 2000, 2000}},
		{p.Announce, []uint32{2000, 2000}, []uint32{2000, 2000, 1000, 1000}},
		{p.Close, []uint32{2000, 2000}, []uint32{2000, 2000}},
	}
	for i, st := range steps {
		pl, err := st.do(m)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ports(pl.Endpoints("orders")), st.announced) || !slices.Equal(ports(pl.Serving("orders")), st.serving) {
			t.Fatalf("step %d: announced %v serving %v", i, pl.Endpoints("orders"), pl.Serving("orders"))
		}
	}
	if _, err := p.Announce(m); !errors.Is(err, ErrStale) {
		t.Fatalf("a finished move stepped again: %v", err)
	}
	m2, err := p.Plan("orders")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Open(m2); err != nil {
		t.Fatal(err)
	}
	pl, err := p.Abandon(m2)
	if err != nil || !slices.Equal(ports(pl.Serving("orders")), []uint32{2000, 2000}) {
		t.Fatalf("abandoned: %v %v", pl.Serving("orders"), err)
	}
}

// Timers wait out blackouts, events do not; nothing exceeds MaxPerHour.
func TestAdmit(t *testing.T) {
	c, err := catalog.Parse("c.yaml", []byte(`
services:
  - name: orders
    endpoints: [{address: 127.0.0.1, port: 100}]
    portRange: {from: 2000, to: 2100}
    rotation: {every: 10s, jitter: 2s, maxPerHour: 3, blackouts: ["02:00-03:00"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	p := New(c)
	now := time.Date(2026, 12, 2, 2, 30, 0, 0, time.UTC)
	p.now = func() time.Time { return now }
	if err := p.Admit("orders", CauseTimer, now); !errors.Is(err, ErrBlackout) {
		t.Fatalf("a timer in a blackout: %v", err)
	}
	for i := range 3 {
		if err := p.Admit("orders", CauseEvent, now); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if _, err := p.Rotate("orders"); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Minute)
	}
	if err := p.Admit("orders", CauseEvent, now); !errors.Is(err, ErrBudget) {
		t.Fatalf("a fourth move within the hour: %v", err)
	}
	now = now.Add(58 * time.Minute) // the first move is now over an hour old
	if err := p.Admit("orders", CauseOperator, now); err != nil {
		t.Fatalf("after an hour: %v", err)
	}
	sc, _ := c.Lookup("orders")
	for range 100 {
		d := NextDue(sc.Rotation, now).Sub(now)
		if d < 8*time.Second || d > 12*time.Second {
			t.Fatalf("next due in %v, want 10s ± 2s", d)
		}
	}
}

// The attacks of the review: moving a service to a port nobody gave it
// (port 1 broke every client) or to another service's port (it sent orders'
// clients to that service). Both are refused and change nothing.
func TestMoveRefusals(t *testing.T) {
	p := New(testCatalog(t))
	for _, tc := range []struct {
		name    string
		f       func() error
		is      error
		message string
	}{
		{"unknown service", func() error { _, err := p.MovePort("nope", 1000); return err }, ErrUnknownService, `"nope"`},
		{"port 0", func() error { _, err := p.MovePort("orders", 0); return err }, ErrOutsidePool, "may move to [1000 2000 3000], not to 0"},
		{"port 1", func() error { _, err := p.MovePort("orders", 1); return err }, ErrOutsidePool, "not to 1"},
		{"port past 65535", func() error { _, err := p.MovePort("orders", 70000); return err }, ErrOutsidePool, "not to 70000"},
		{"another service's port", func() error { _, err := p.MovePort("orders", 5); return err }, ErrOtherService, `127.0.0.1:5 is service "fixed"'s`},
		{"fixed onto orders' port", func() error { _, err := p.MovePort("fixed", 1000); return err }, ErrOtherService, `service "orders"'s`},
		{"empty pool", func() error { _, err := p.Rotate("fixed"); return err }, ErrNoPort, "fixed"},
		{"unknown rotate", func() error { _, err := p.Rotate("nope"); return err }, ErrUnknownService, `"nope"`},
	} {
		err := tc.f()
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.message) {
			t.Errorf("%s: err %v, want %v saying %q", tc.name, err, tc.is, tc.message)
		}
	}
	if now := p.Current(); now.Version != 1 || now.Endpoints("orders")[0].Port != 1000 || now.Endpoints("fixed")[0].Port != 5 {
		t.Fatalf("a refused move changed the placement: v%d %v %v", now.Version, now.Endpoints("orders"), now.Endpoints("fixed"))
	}
	if pl, err := p.MovePort("orders", 3000); err != nil || pl.Endpoints("orders")[1].Port != 3000 || pl.Version != 4 {
		t.Fatalf("a pool port: %v %v", pl, err)
	}
}

// A reload keeps a service where the new catalog still lets it be, sends
// it home where it does not, adds and drops services, and waits for a
// move under way.
func TestSetCatalog(t *testing.T) {
	p := New(testCatalog(t))
	if _, err := p.MovePort("orders", 2000); err != nil {
		t.Fatal(err)
	}
	parse := func(y string) *catalog.Catalog {
		c, err := catalog.Parse("c.yaml", []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	keep := parse(`
services:
  - name: orders
    endpoints: [{address: 127.0.0.1, port: 1000}, {address: 127.0.0.2, port: 1000}]
    ports: [2000, 4000]
  - name: users
    endpoints: [{address: 127.0.0.3, port: 7}]
`)
	pl, err := p.SetCatalog(keep)
	if err != nil {
		t.Fatal(err)
	}
	if got := pl.Endpoints("orders"); got[0].Port != 2000 || got[1].Port != 2000 {
		t.Fatalf("orders left its still valid port: %v", got)
	}
	if pl.Endpoints("users")[0].Port != 7 || len(pl.Endpoints("fixed")) != 0 || !slices.Equal(pl.Services(), []string{"orders", "users"}) {
		t.Fatalf("services after the reload: %v", pl.Services())
	}
	home := parse(`
services:
  - name: orders
    endpoints: [{address: 127.0.0.1, port: 1000}, {address: 127.0.0.2, port: 1000}]
    ports: [3000]
`)
	m, err := p.Plan("orders")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.SetCatalog(home); !errors.Is(err, ErrMoving) {
		t.Fatalf("a reload during a move: %v", err)
	}
	if _, err := p.Abandon(m); err != nil {
		t.Fatal(err)
	}
	pl, err = p.SetCatalog(home)
	if err != nil || pl.Endpoints("orders")[0].Port != 1000 || p.Catalog() != home {
		t.Fatalf("a port the catalog took away: %v %v", pl.Endpoints("orders"), err)
	}
}
