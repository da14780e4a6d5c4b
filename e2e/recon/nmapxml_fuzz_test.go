package recon

import (
	"bytes"
	"testing"
)

// FuzzParseNmapXML: any report either fails with an error or yields
// sorted, distinct-or-repeated loopback sockets with real ports; never a
// panic, never an address off loopback.
func FuzzParseNmapXML(f *testing.F) {
	f.Add([]byte(nmapReport(realHost, finishedOK)))
	f.Add([]byte(nmapReport(host("127.0.0.2", port("tcp", "80", "open"), port("udp", "53", "open")), finishedOK)))
	f.Add([]byte(nmapReport(host("10.0.0.1", port("tcp", "22", "open")), finishedOK)))
	f.Add([]byte(nmapReport("", `<finished exit="error" errormsg="x"/>`)))
	f.Add([]byte(`<nmaprun><host><address addr="127.0.0.1" addrtype="ipv4"/><ports><port protocol="tcp" portid="1"><state state="open"/></port></ports></host><runstats><finished exit="success"/></runstats></nmaprun>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseNmapXML(bytes.NewReader(data))
		if err != nil {
			return
		}
		for i, s := range got {
			if CheckTarget(s.Addr()) != nil || s.Port() == 0 {
				t.Fatalf("parsed %v from %q", s, data)
			}
			if i > 0 && got[i-1].Compare(s) > 0 {
				t.Fatalf("not sorted: %v", got)
			}
		}
	})
}
