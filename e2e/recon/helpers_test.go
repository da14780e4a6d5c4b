package recon

import (
	"net"
	"net/netip"
	"testing"
)

// listen opens n listeners on 127.0.0.1 and returns them with their
// sockets, and one more socket that was open and is closed now.
func listen(t *testing.T, n int) ([]net.Listener, []netip.AddrPort, netip.AddrPort) {
	t.Helper()
	var lns []net.Listener
	var socks []netip.AddrPort
	for range n + 1 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, l)
		socks = append(socks, netip.MustParseAddrPort(l.Addr().String()))
	}
	lns[n].Close()
	for _, l := range lns[:n] {
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	return lns[:n], socks[:n], socks[n]
}

func portsOf(socks ...netip.AddrPort) []uint16 {
	var out []uint16
	for _, s := range socks {
		out = append(out, s.Port())
	}
	return out
}

var (
	lo1 = netip.MustParseAddr("127.0.0.1")
	// lo2 is an address of loopback nothing in these tests listens on.
	lo2 = netip.MustParseAddr("127.254.253.252")
)
