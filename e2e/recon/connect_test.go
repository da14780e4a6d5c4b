package recon

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// What a scanner finds is exactly what listens: open sockets on the
// address they are bound to, and nothing on a closed port or on another
// address with the same ports.
func TestScannersFindExactlyTheOpenSockets(t *testing.T) {
	_, open, closed := listen(t, 3)
	ports := portsOf(append(slices.Clone(open), closed)...)
	eachScanner(t, func(t *testing.T, s Scanner) {
		got, err := s.Scan(context.Background(), []netip.Addr{lo1, lo2}, ports)
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(open)
		sortSockets(want)
		if !slices.Equal(got, want) {
			t.Errorf("found %v, want %v", got, want)
		}
	})
}

// Probing what a scan found again finds only what still listens: a closed
// listener drops out, and nothing that was not asked about is reported.
func TestScannersProbeWhatStillAnswers(t *testing.T) {
	lns, open, closed := listen(t, 3)
	lns[1].Close()
	eachScanner(t, func(t *testing.T, s Scanner) {
		got, err := s.Probe(context.Background(), []netip.AddrPort{open[0], open[1], closed})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, open[:1]) {
			t.Errorf("still answering %v, want %v (%v closed, %v not asked)", got, open[:1], open[1], open[2])
		}
	})
}

// A target outside 127.0.0.0/8 is refused before anything is sent: the
// scanners share machines with other work and must never leave the host.
func TestScannersRefuseTargetsOffLoopback(t *testing.T) {
	off := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("::1"), netip.MustParseAddr("0.0.0.0"),
		netip.MustParseAddr("::ffff:127.0.0.1")}
	// A path that cannot run: if the refusal came after the exec, the error
	// would be ErrNoNmap instead.
	for _, s := range []Scanner{Connect{}, Nmap{Path: "/nonexistent/nmap"}} {
		for _, a := range off {
			_, err := s.Scan(context.Background(), []netip.Addr{lo1, a}, []uint16{22})
			if err == nil || !strings.Contains(err.Error(), "outside 127.0.0.0/8") {
				t.Errorf("%s scanning %v: %v, want a refusal", s.Name(), a, err)
			}
			_, err = s.Probe(context.Background(), []netip.AddrPort{netip.AddrPortFrom(a, 22)})
			if err == nil || !strings.Contains(err.Error(), "outside 127.0.0.0/8") {
				t.Errorf("%s probing %v: %v, want a refusal", s.Name(), a, err)
			}
		}
	}
}

// eachScanner runs f with the connect scanner and with nmap; the nmap
// subtest skips, saying why, only where nmap is not installed.
func eachScanner(t *testing.T, f func(*testing.T, Scanner)) {
	t.Run("connect", func(t *testing.T) { f(t, Connect{Concurrency: 4}) })
	t.Run("nmap", func(t *testing.T) {
		n, err := FindNmap()
		if err != nil {
			t.Skip(err)
		}
		f(t, n)
	})
}
