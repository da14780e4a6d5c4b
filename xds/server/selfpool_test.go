package server

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseAddrPool(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int    // sockets
		err  string // part of the error
	}{
		{"127.0.0.5:18000,127.0.0.6:18001", 2, ""},
		{" 127.0.0.5:18000-18003 , [::1]:18000", 5, ""},
		{"127.0.0.5:18000", 0, "at least 2"},
		{"127.0.0.5:18000,127.0.0.5:18000", 0, "item 2 (\"127.0.0.5:18000\"): 127.0.0.5:18000 is in the pool twice"},
		{"127.0.0.5:18000-18001,127.0.0.5:18001", 0, "in the pool twice"},
		{"127.0.0.5", 0, "item 1 (\"127.0.0.5\"): want ADDRESS:PORT"},
		{"127.0.0.5:0,127.0.0.6:1", 0, "item 1 (\"127.0.0.5:0\"): port \"0\""},
		{"127.0.0.5:70000,127.0.0.6:1", 0, "port \"70000\""},
		{"127.0.0.5:18003-18000", 0, "the end is before the start"},
		{"0.0.0.0:18000,127.0.0.6:1", 0, "specified unicast"},
		{"[::]:18000,127.0.0.6:1", 0, "specified unicast"},
		{"224.0.0.1:18000,127.0.0.6:1", 0, "specified unicast"},
		{"[fe80::1%lo]:18000,127.0.0.6:1", 0, "zone"},
		{"orders.local:18000,127.0.0.6:1", 0, "item 1 (\"orders.local:18000\"): address"},
		{"127.0.0.5:1-65535", 0, "more than 4096"},
		{"127.0.0.5:1-4000,127.0.0.6:1-97", 0, "item 2 (\"127.0.0.6:1-97\"): the pool would hold more than 4096"},
		{"", 0, "item 1"},
		{"127.0.0.5:18000,", 0, "item 2"},
	} {
		got, err := ParseAddrPool(tc.in)
		switch {
		case tc.err == "" && (err != nil || len(got) != tc.want):
			t.Errorf("%q: %d sockets, %v; want %d", tc.in, len(got), err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: %v, want an error with %q", tc.in, err, tc.err)
		}
	}
}

func FuzzParseAddrPool(f *testing.F) {
	for _, s := range []string{"127.0.0.5:18000,127.0.0.6:18001", "127.0.0.5:1-65535", "[::1]:1-2", ",,", "a:b-c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseAddrPool(s)
		if err != nil {
			return
		}
		if len(got) < 2 || len(got) > MaxAddrPool {
			t.Fatalf("%q: %d sockets", s, len(got))
		}
		seen := map[netip.AddrPort]bool{}
		for _, a := range got {
			if seen[a] || a.Port() == 0 || a.Addr().IsUnspecified() || !a.IsValid() {
				t.Fatalf("%q: %v", s, a)
			}
			seen[a] = true
		}
	})
}

func pool(t *testing.T, n int) []netip.AddrPort {
	t.Helper()
	var out []netip.AddrPort
	for i := range n {
		out = append(out, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(10 + i)}), 18000))
	}
	return out
}

func TestSelfPoolLimits(t *testing.T) {
	for _, tc := range []struct {
		size, recent int
		err          string
	}{
		{1, 0, "at least 2"},
		{2, 0, ""},
		{2, 1, "leave nothing to draw (at most 0)"},
		{6, -1, ""},
		{6, 4, ""},
		{6, 5, "5 recent addresses kept out of a pool of 6"},
	} {
		_, err := newSelfPool(pool(t, tc.size), tc.recent)
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("pool %d recent %d: %v, want %q", tc.size, tc.recent, err, tc.err)
		}
	}
}

// The next address is never the current one nor one of the recent ones, and
// every other one is drawn.
func TestSelfPoolDrawsNeitherCurrentNorRecent(t *testing.T) {
	for _, tc := range []struct{ size, recent int }{{2, 0}, {3, 1}, {6, -1}, {6, 4}} {
		p, err := newSelfPool(pool(t, tc.size), tc.recent)
		if err != nil {
			t.Fatal(err)
		}
		drawn := map[netip.AddrPort]bool{}
		for range 400 {
			before := append([]netip.AddrPort(nil), p.history...)
			a, err := p.draw(nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range before {
				if h == a {
					t.Fatalf("pool %d recent %d: drew %v, current or recent in %v", tc.size, p.recent, a, before)
				}
			}
			p.moved(a)
			drawn[a] = true
			if p.current() != a || len(p.history) > p.recent+1 {
				t.Fatalf("history %v after moving to %v", p.history, a)
			}
		}
		if len(drawn) != tc.size {
			t.Errorf("pool %d recent %d: drew only %v", tc.size, p.recent, drawn)
		}
	}
	// Taken addresses (usable says no) are never drawn; none left is an error.
	p, _ := newSelfPool(pool(t, 3), 0)
	p.moved(pool(t, 3)[0])
	if _, err := p.draw(func(a netip.AddrPort) bool { return false }); err != ErrNoSelfAddr {
		t.Errorf("nothing usable: %v", err)
	}
}
