package catalog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rot is a MeshwardRotation of namespace shop whose spec starts at line 5.
func rot(spec string) string {
	return "apiVersion: meshward.io/v1alpha1\nkind: MeshwardRotation\nmetadata: {name: r, namespace: shop}\nspec:\n" + spec
}

func TestParseRotations(t *testing.T) {
	rs, err := ParseRotations("r.yaml", []byte("---\n"+rot(`  service: orders
  ports: [2001, 2002]
  portRange: {from: 3000, to: 3099}
  addresses: ['127.0.0.11', '::1']
  every: 1m30s
  jitter: 10s
  maxPerHour: 6
  blackouts: ["23:30-00:30"]
  hardDeadline: 2m
  recent: 3
`)+"---\n---\n"+rot("  service: payments\n  ports: [4001]\n")))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 {
		t.Fatalf("%d rotations, want 2", len(rs))
	}
	r := rs[0]
	if r.Name != "r" || r.Namespace != "shop" || r.Service != "orders" || r.Source != "r.yaml:2" ||
		len(r.Ports) != 2 || r.Ports[1] != 2002 || *r.PortRange != (PortRange{3000, 3099}) || r.Addresses[1] != "::1" {
		t.Fatalf("rotation %+v", r)
	}
	sc := r.Schedule
	if sc.Every != 90*time.Second || sc.Jitter != 10*time.Second || sc.MaxPerHour != 6 || sc.Recent != 3 ||
		sc.HardDeadline != 2*time.Minute || sc.Grace != DefaultGrace || sc.AckTimeout != DefaultAckTimeout ||
		len(sc.Blackouts) != 1 || !sc.InBlackout(time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC)) {
		t.Fatalf("schedule %+v", sc)
	}
	if rs[1].Source != "r.yaml:18" || rs[1].Schedule != nil {
		t.Fatalf("second rotation %+v", rs[1])
	}
}

// Every refusal names the file and the line of what is wrong.
func TestParseRotationsErrors(t *testing.T) {
	many := func(item string, n int) string { return "[" + strings.Repeat(item+",", n) + "]" }
	tests := []struct{ name, in, want string }{
		{"yaml syntax", "a: [", "r.yaml: yaml: line 1: did not find expected node content"},
		{"not a mapping", "- a\n", "r.yaml:1: a MeshwardRotation must be a mapping"},
		{"other kind", "apiVersion: meshward.io/v1alpha1\nkind: MeshwardPolicy\nmetadata: {name: r}\n",
			`r.yaml:1: kind "MeshwardPolicy" of apiVersion "meshward.io/v1alpha1" is not a MeshwardRotation (want apiVersion meshward.io/v1alpha1)`},
		{"other version", "apiVersion: meshward.io/v1\nkind: MeshwardRotation\n", `r.yaml:1: kind "MeshwardRotation" of apiVersion "meshward.io/v1" is not a MeshwardRotation`},
		{"alias", rot("  service: &s orders\n  ports: [1]\n  every: *s\n"), "r.yaml:7: YAML aliases are not accepted"},
		{"merge key", rot("  <<: {service: orders}\n  ports: [1]\n"), "r.yaml:5: YAML merge keys (<<) are not accepted"},
		{"tagged collection", rot("  service: orders\n  ports: !!set {1: null}\n"), "r.yaml:6: tagged collections (!!set) are not accepted"},
		{"unknown top field", rot("  service: orders\n  ports: [1]\nstatus: {}\n"), `r.yaml:7: unknown field "status" (want apiVersion, kind, metadata, spec)`},
		{"unknown spec field", rot("  service: orders\n  ports: [1]\n  evry: 10s\n"), `r.yaml:7: unknown field "evry" (want ackTimeout, addresses, blackouts, every,`},
		{"unknown range field", rot("  service: orders\n  portRange: {from: 1, too: 2}\n"), `r.yaml:6: unknown field "too" (want from, to)`},
		{"unknown metadata field", "apiVersion: meshward.io/v1alpha1\nkind: MeshwardRotation\nmetadata:\n  name: r\n  namspace: shop\n", `r.yaml:5: unknown field "namspace"`},
		{"key in another case", rot("  service: orders\n  ports: [1]\n  Every: 1s\n"), `r.yaml:7: unknown field "Every"`},
		{"spec in another case", rot("  service: orders\n  ports: [1]\nSpec: {service: payments}\n"), `r.yaml:7: unknown field "Spec"`},
		{"duplicate key", rot("  service: orders\n  ports: [1]\n  service: payments\n"), `r.yaml:7: mapping key "service" already defined at line 5`},
		{"key not a string", "apiVersion: meshward.io/v1alpha1\nkind: MeshwardRotation\nmetadata:\n  name: r\n  labels: {1: a}\n", `r.yaml:5: mapping key "1" is not a string`},
		{"spec key not a string", rot("  service: orders\n  ports: [1]\n  1: 2\n"), `r.yaml:7: unknown field "1"`},
		{"port not a number", rot("  service: orders\n  ports: ['1']\n"), "r.yaml:6: spec.ports: want a whole number of at most 32 bits, not string"},
		{"port a fraction", rot("  service: orders\n  ports: [1.5]\n"), "r.yaml:6: spec.ports: want a whole number of at most 32 bits, not number 1.5"},
		{"range beyond 32 bits", rot("  service: orders\n  portRange:\n    from: 1\n    to: 3000000000\n"), "r.yaml:8: spec.portRange.to: want a whole number of at most 32 bits, not number 3000000000"},
		{"service a number", rot("  service: 5\n  ports: [1]\n"), "r.yaml:5: spec.service: want a string, not number"},
		{"spec a list", rot("  - service\n"), "r.yaml:4: spec: want a mapping, not array"},
		{"no name", "apiVersion: meshward.io/v1alpha1\nkind: MeshwardRotation\nmetadata: {namespace: shop}\nspec: {service: a, ports: [1]}\n", "r.yaml:3: metadata.name: required"},
		{"bad name", "apiVersion: meshward.io/v1alpha1\nkind: MeshwardRotation\nmetadata: {name: Orders}\nspec: {service: a, ports: [1]}\n", `r.yaml:3: metadata.name: "Orders": a lowercase RFC 1123 subdomain`},
		{"bad namespace", "apiVersion: meshward.io/v1alpha1\nkind: MeshwardRotation\nmetadata:\n  name: r\n  namespace: a.b\nspec: {service: a, ports: [1]}\n", `r.yaml:5: metadata.namespace: "a.b": must not contain dots`},
		{"no spec", "apiVersion: meshward.io/v1alpha1\nkind: MeshwardRotation\nmetadata: {name: r}\n", "r.yaml:1: spec.service: required"},
		{"no service", rot("  ports: [1]\n"), "r.yaml:4: spec.service: required"},
		{"bad service", rot("  service: Orders_1\n  ports: [1]\n"), `r.yaml:5: spec.service: "Orders_1": want a catalog service's name`},
		{"no pool", rot("  service: orders\n  every: 10s\n"), "r.yaml:4: spec: no pool: give ports, portRange or addresses"},
		{"empty pools", rot("  service: orders\n  ports: []\n  addresses: []\n"), "r.yaml:4: spec: no pool"},
		{"port zero", rot("  service: orders\n  ports:\n    - 1\n    - 0\n"), "r.yaml:8: spec.ports[1]: port 0 out of range (1 to 65535)"},
		{"port negative", rot("  service: orders\n  ports: [-1]\n"), "r.yaml:6: spec.ports[0]: port -1 out of range"},
		{"port too high", rot("  service: orders\n  ports: [70000]\n"), "r.yaml:6: spec.ports[0]: port 70000 out of range"},
		{"too many ports", rot("  service: orders\n  ports: " + many("2", 4097) + "\n"), "r.yaml:6: spec.ports: 4097 ports, at most 4096"},
		{"range reversed", rot("  service: orders\n  portRange: {from: 300, to: 200}\n"), "r.yaml:6: spec.portRange: portRange 300-200: want 1 ≤ from ≤ to ≤ 65535"},
		{"range past 65535", rot("  service: orders\n  portRange: {from: 300, to: 70000}\n"), "r.yaml:6: spec.portRange: portRange 300-70000"},
		{"range without from", rot("  service: orders\n  portRange: {to: 200}\n"), "r.yaml:6: spec.portRange: 0-200: want 1 ≤ from ≤ to ≤ 65535"},
		{"address not an IP", rot("  service: orders\n  addresses:\n    - 127.0.0.2\n    - localhost\n"), `r.yaml:8: spec.addresses[1]: address "localhost" is not an IP address`},
		{"address multicast", rot("  service: orders\n  addresses: [224.0.0.1]\n"), `r.yaml:6: spec.addresses[0]: address "224.0.0.1" is not a unicast address`},
		{"address twice", rot("  service: orders\n  addresses: [127.0.0.5, '::ffff:127.0.0.5']\n"), "r.yaml:6: spec.addresses: pool address ::ffff:127.0.0.5 listed twice"},
		{"too many addresses", rot("  service: orders\n  addresses: " + many("127.0.0.1", 4097) + "\n"), "r.yaml:6: spec.addresses: 4097 addresses, at most 4096"},
		{"jitter without every", rot("  service: orders\n  ports: [1]\n  jitter: 1s\n"), "r.yaml:7: spec.jitter: needs every (a schedule)"},
		{"recent without every", rot("  service: orders\n  ports: [1]\n  recent: 2\n"), "r.yaml:7: spec.recent: needs every"},
		{"bad duration", rot("  service: orders\n  ports: [1]\n  every: soon\n"), `r.yaml:7: spec.every: "soon": want a duration such as 90s or 1h30m`},
		{"duration overflow", rot("  service: orders\n  ports: [1]\n  every: 9999999999h\n"), `r.yaml:7: spec.every: "9999999999h": want a duration`},
		{"every a number", rot("  service: orders\n  ports: [1]\n  every: 10\n"), "r.yaml:7: spec.every: want a string, not number"},
		{"every too short", rot("  service: orders\n  ports: [1]\n  every: 10ms\n"), "r.yaml:7: spec: every 10ms: want at least 1s"},
		{"jitter too large", rot("  service: orders\n  ports: [1]\n  every: 10s\n  jitter: 10s\n"), "r.yaml:8: spec: jitter 10s: want 0 ≤ jitter < every (10s)"},
		{"negative grace", rot("  service: orders\n  ports: [1]\n  every: 10s\n  grace: -1s\n"), "r.yaml:8: spec: grace, ackTimeout, hardDeadline and recent must not be negative"},
		{"negative recent", rot("  service: orders\n  ports: [1]\n  every: 10s\n  recent: -1\n"), "r.yaml:4: spec: grace, ackTimeout, hardDeadline and recent must not be negative"},
		{"negative budget", rot("  service: orders\n  ports: [1]\n  every: 10s\n  maxPerHour: -1\n"), "r.yaml:8: spec: maxPerHour -1: want 0 (no bound) or more"},
		{"deadline before ack timeout", rot("  service: orders\n  ports: [1]\n  every: 10s\n  ackTimeout: 9s\n  hardDeadline: 2s\n"), "r.yaml:9: spec: hardDeadline 2s is before ackTimeout 9s"},
		{"deadline before default ack timeout", rot("  service: orders\n  ports: [1]\n  every: 10s\n  hardDeadline: 2s\n"), "r.yaml:8: spec: hardDeadline 2s is before ackTimeout 5s"},
		{"bad blackout", rot("  service: orders\n  ports: [1]\n  every: 10s\n  blackouts:\n    - 01:00-02:00\n    - 25:00-01:00\n"), `r.yaml:10: spec.blackouts[1]: blackout "25:00-01:00": want HH:MM-HH:MM (UTC), start and end different`},
		{"empty blackout", rot("  service: orders\n  ports: [1]\n  every: 10s\n  blackouts: ['01:00-01:00']\n"), `r.yaml:8: spec.blackouts[0]: blackout "01:00-01:00"`},
		{"too many blackouts", rot("  service: orders\n  ports: [1]\n  every: 10s\n  blackouts: " + many("'01:00-02:00'", 25) + "\n"), "r.yaml:8: spec.blackouts: 25 blackouts, at most 24"},
		{"error in a later document", rot("  service: orders\n  ports: [1]\n") + "---\n" + rot("  service: payments\n  ports: [0]\n"), "r.yaml:13: spec.ports[0]: port 0 out of range"},
		{"too many documents", strings.Repeat(rot("  service: orders\n  ports: [1]\n")+"---\n", MaxRotations+1), "r.yaml:28672: more than 4096 rotations"},
		{"file too large", "# " + strings.Repeat("x", MaxFileBytes), "r.yaml: larger than 4194304 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRotations("r.yaml", []byte(tc.in))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant %s…", err, tc.want)
			}
		})
	}
}

// A directory is read recursively, YAML files only, dot-directories (a
// ConfigMap's ..data copies) left out; every bad file is reported.
func TestLoadRotations(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", rot("  service: orders\n  ports: [1]\n"))
	write("sub/b.yml", rot("  service: payments\n  ports: [2]\n"))
	write("..2026_01_01/a.yaml", rot("  service: orders\n  ports: [1]\n"))
	write(".hidden.yaml", "not: a rotation\n")
	write("notes.txt", "not yaml")
	rs, err := LoadRotations(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Source != filepath.Join(dir, "a.yaml")+":1" || rs[1].Service != "payments" {
		t.Fatalf("rotations %+v", rs)
	}
	write("c.yaml", rot("  service: c\n  ports: [0]\n"))
	write("d.yaml", rot("  service: d\n  evry: 1s\n"))
	_, err = LoadRotations(dir, filepath.Join(dir, "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("a missing file: %v", err)
	}
	_, err = LoadRotations(dir)
	if err == nil || !strings.Contains(err.Error(), "c.yaml:6: spec.ports[0]") || !strings.Contains(err.Error(), `d.yaml:6: unknown field "evry"`) {
		t.Fatalf("want both bad files reported: %v", err)
	}
	write("e.yaml", "# "+strings.Repeat("x", MaxFileBytes))
	if _, err = LoadRotations(filepath.Join(dir, "e.yaml")); err == nil || !strings.Contains(err.Error(), "e.yaml: larger than") {
		t.Fatalf("a huge file: %v", err)
	}
}
