package recon

import (
	"fmt"
	"strings"
	"testing"
)

// nmapReport is nmap 7.93's -oX output for `nmap -sT -Pn -n -p 38123,38124
// --open -oX - 127.0.0.1 127.0.0.2`, with hosts and the finish line
// replaceable.
func nmapReport(hosts, finished string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nmaprun>
<?xml-stylesheet href="file:///usr/bin/../share/nmap/nmap.xsl" type="text/xsl"?>
<!-- Nmap 7.93 scan initiated Wed Dec  2 11:38:26 2026 as: nmap -sT -Pn -n -p 38123,38124 -&#45;open -oX - 127.0.0.1 127.0.0.2 -->
<nmaprun scanner="nmap" args="nmap -sT -Pn -n -p 38123,38124 -&#45;open -oX - 127.0.0.1 127.0.0.2" start="1796211506" version="7.93" xmloutputversion="1.05">
<scaninfo type="connect" protocol="tcp" numservices="2" services="38123-38124"/>
<verbose level="0"/>
<debugging level="0"/>
` + hosts + `<runstats>` + finished + `<hosts up="2" down="0" total="2"/>
</runstats>
</nmaprun>
`
}

const (
	realHost = `<host starttime="1796211506" endtime="1796211506"><status state="up" reason="user-set" reason_ttl="0"/>
<address addr="127.0.0.1" addrtype="ipv4"/>
<hostnames>
</hostnames>
<ports><extraports state="closed" count="1">
<extrareasons reason="conn-refused" count="1" proto="tcp" ports="38124"/>
</extraports>
<port protocol="tcp" portid="38123"><state state="open" reason="syn-ack" reason_ttl="0"/></port>
</ports>
<times srtt="1136" rttvar="4067" to="100000"/>
</host>
`
	finishedOK = `<finished time="1796211506" summary="Nmap done; 2 IP addresses (2 hosts up) scanned in 0.04 seconds" elapsed="0.04" exit="success"/>`
)

func host(addr string, ports ...string) string {
	return `<host><address addr="` + addr + `" addrtype="ipv4"/><ports>` + strings.Join(ports, "") + `</ports></host>`
}

func port(proto, id, state string) string {
	return fmt.Sprintf(`<port protocol=%q portid=%q><state state=%q/></port>`, proto, id, state)
}

func TestParseNmapXML(t *testing.T) {
	for _, c := range []struct {
		name, report, want, err string
	}{
		{"nmap 7.93", nmapReport(realHost, finishedOK), "[127.0.0.1:38123]", ""},
		{"no host up", nmapReport("", finishedOK), "[]", ""},
		{"open only, tcp only, sorted", nmapReport(host("127.0.0.2", port("tcp", "80", "open"), port("tcp", "81", "closed"),
			port("udp", "53", "open"), port("tcp", "22", "open"))+host("127.0.0.1", port("tcp", "443", "open")), finishedOK),
			"[127.0.0.1:443 127.0.0.2:22 127.0.0.2:80]", ""},
		{"a MAC address beside", nmapReport(`<host><address addr="127.0.0.3" addrtype="ipv4"/><address addr="00:11:22:33:44:55" addrtype="mac"/>`+
			`<ports>`+port("tcp", "8080", "open")+`</ports></host>`, finishedOK), "[127.0.0.3:8080]", ""},
		{"run failed", nmapReport("", `<finished exit="error" errormsg="Failed to resolve"/>`), "", `exit="error": "Failed to resolve"`},
		{"unfinished", nmapReport(realHost, ""), "", "ends before its run finished"},
		{"cut off", nmapReport(realHost, finishedOK)[:900], "", "at byte"},
		{"off loopback", nmapReport(host("10.1.2.3", port("tcp", "22", "open")), finishedOK), "", "host 1: recon: target 10.1.2.3 is outside"},
		{"IPv6", nmapReport(`<host><address addr="::1" addrtype="ipv4"/></host>`, finishedOK), "", "outside 127.0.0.0/8"},
		{"not an address", nmapReport(host("127.0.0.300"), finishedOK), "", `address "127.0.0.300"`},
		{"two addresses", nmapReport(`<host><address addr="127.0.0.1" addrtype="ipv4"/><address addr="127.0.0.2" addrtype="ipv4"/></host>`, finishedOK),
			"", "host 1: more than one IPv4 address"},
		{"no address", nmapReport(`<host><ports>`+port("tcp", "22", "open")+`</ports></host>`, finishedOK), "", "host 1: no IPv4 address"},
		{"port 0", nmapReport(host("127.0.0.1", port("tcp", "0", "open")), finishedOK), "", `portid "0" is not a port`},
		{"port 65536", nmapReport(host("127.0.0.1", port("tcp", "65536", "open")), finishedOK), "", `portid "65536"`},
		{"port -1", nmapReport(host("127.0.0.1", port("tcp", "-1", "open")), finishedOK), "", `portid "-1"`},
		{"another root", `<nmap><host/></nmap>`, "", "root element <nmap>"},
		{"two roots", nmapReport("", finishedOK) + `<nmaprun/>`, "", "a second root element"},
		{"empty", ``, "", "no <nmaprun> element"},
		{"not XML", `{"hosts": []}`, "", "no <nmaprun> element"},
		{"too deep", nmapReport(strings.Repeat("<a>", 40)+strings.Repeat("</a>", 40), finishedOK), "", "nested over 32 deep"},
		{"mismatched", nmapReport(`<host></ports></host>`, finishedOK), "", "at byte"},
	} {
		got, err := ParseNmapXML(strings.NewReader(c.report))
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err == "" && fmtSockets(got) != c.want:
			t.Errorf("%s: %s, want %s", c.name, fmtSockets(got), c.want)
		}
	}
}

// A report over the bound is refused after reading the bound, not read
// whole.
func TestParseNmapXMLBounded(t *testing.T) {
	pad := strings.Repeat(host("127.0.0.1", port("tcp", "22", "closed")), MaxNmapOutput/60)
	_, err := ParseNmapXML(strings.NewReader(nmapReport(pad, finishedOK)))
	if err == nil || !strings.Contains(err.Error(), "over 8388608 bytes") {
		t.Fatalf("an oversized report: %v", err)
	}
}
