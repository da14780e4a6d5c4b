package recon

import (
	"net/netip"
	"strings"
	"testing"
)

func TestCheckTarget(t *testing.T) {
	for _, c := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1", true},
		{"127.1.7.10", true},
		{"127.255.255.254", true},
		{"128.0.0.1", false},
		{"10.0.0.1", false},
		{"0.0.0.0", false},
		{"255.255.255.255", false},
		{"::1", false},
		{"::ffff:127.0.0.1", false}, // loopback, but named as IPv6
		{"fe80::1", false},
	} {
		err := CheckTarget(netip.MustParseAddr(c.addr))
		if (err == nil) != c.ok {
			t.Errorf("CheckTarget(%s) = %v, want ok=%v", c.addr, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), c.addr) {
			t.Errorf("CheckTarget(%s): %v does not name the target", c.addr, err)
		}
	}
	if err := CheckTarget(netip.Addr{}); err == nil {
		t.Error("the zero address passed")
	}
}

func TestSockets(t *testing.T) {
	lo := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")}
	got, err := Sockets(lo, []uint16{80, 443})
	if err != nil {
		t.Fatal(err)
	}
	want := "[127.0.0.1:80 127.0.0.1:443 127.0.0.2:80 127.0.0.2:443]"
	if fmtSockets(got) != want {
		t.Errorf("Sockets = %s, want %s", fmtSockets(got), want)
	}
	for _, c := range []struct {
		name  string
		addrs []netip.Addr
		ports []uint16
		err   string
	}{
		{"no addresses", nil, []uint16{80}, "no addresses"},
		{"no ports", lo, nil, "no ports"},
		{"off loopback", append(lo, netip.MustParseAddr("192.168.1.1")), []uint16{80}, "192.168.1.1 is outside"},
		{"port 0", lo, []uint16{0}, "port 0"},
		{"too many", lo, make([]uint16, MaxProbes), "over"},
	} {
		if _, err := Sockets(c.addrs, c.ports); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.err)
		}
	}
}

func fmtSockets(s []netip.AddrPort) string {
	var b strings.Builder
	b.WriteString("[")
	for i, x := range s {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(x.String())
	}
	return b.String() + "]"
}

func TestPortList(t *testing.T) {
	for _, c := range []struct {
		ports []uint16
		want  string
	}{
		{[]uint16{80}, "80"},
		{[]uint16{443, 80, 81, 82, 80}, "80-82,443"},
		{[]uint16{1, 3, 5}, "1,3,5"},
		{[]uint16{65535, 65534}, "65534-65535"},
		{nil, ""},
	} {
		if got := PortList(c.ports); got != c.want {
			t.Errorf("PortList(%v) = %q, want %q", c.ports, got, c.want)
		}
	}
}
