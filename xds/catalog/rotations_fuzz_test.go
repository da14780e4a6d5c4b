package catalog

import (
	"os"
	"strings"
	"testing"
)

// FuzzParseRotations: any input is refused with an error that says where,
// or gives rotations that keep the catalog's rules and, applied, a catalog
// in which each service alone owns every socket it may move to.
func FuzzParseRotations(f *testing.F) {
	if ex, err := os.ReadFile("../../manifests/rotations/example.yaml"); err == nil {
		f.Add(ex)
	}
	f.Add([]byte(rot("  service: orders\n  ports: [1501, 1502]\n  every: 2s\n  jitter: 1s\n  blackouts: ['23:00-01:00']\n")))
	f.Add([]byte(rot("  service: payments\n  portRange: {from: 2001, to: 2003}\n  addresses: [127.0.0.12, '::1']\n")))
	f.Add([]byte(rotNS("", "legacy", "  service: legacy\n  ports: [4000, 4001]\n  every: 1h\n  maxPerHour: 3\n  recent: 1\n")))
	f.Add([]byte(rot("  service: orders\n  ports: [2000]\n  addresses: [127.0.0.2]\n") + "---\n" + rot("  service: orders\n  <<: {ports: [1]}\n")))
	base, err := Parse("c.yaml", []byte(shopCatalog))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := ParseRotations("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not say where: %v", err)
			}
			return
		}
		for _, r := range rs {
			checkRotation(t, r)
		}
		c, err := base.WithRotations(rs)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml:") && !strings.HasPrefix(err.Error(), "c.yaml:") {
				t.Fatalf("error does not say where: %v", err)
			}
			return
		}
		for _, s := range c.Services {
			checkOwned(t, c, s)
		}
	})
}

func checkRotation(t *testing.T, r Rotation) {
	t.Helper()
	if !nameRE.MatchString(r.Service) || r.Name == "" || !strings.HasPrefix(r.Source, "fuzz.yaml:") {
		t.Fatalf("accepted %+v", r)
	}
	if len(r.Ports) == 0 && r.PortRange == nil && len(r.Addresses) == 0 {
		t.Fatalf("accepted a rotation without a pool: %+v", r)
	}
	s := Service{Ports: r.Ports, PortRange: r.PortRange, Addresses: r.Addresses}
	if err := s.validatePools(); err != nil {
		t.Fatalf("accepted pools the catalog refuses: %v", err)
	}
	if sc := r.Schedule; sc != nil && (sc.Every < minEvery || sc.Jitter < 0 || sc.Jitter >= sc.Every || sc.HardDeadline < sc.AckTimeout) {
		t.Fatalf("accepted schedule %+v", sc)
	}
}

func checkOwned(t *testing.T, c *Catalog, s Service) {
	t.Helper()
	addrs := append([]string(nil), s.Addresses...)
	for _, e := range s.Endpoints {
		addrs = append(addrs, e.Address)
	}
	ports := append([]uint32{s.Endpoints[0].Port}, s.Ports...)
	if s.PortRange != nil {
		ports = append(ports, s.PortRange.From, s.PortRange.To)
	}
	for _, a := range addrs {
		for _, p := range ports {
			if o, _ := c.Owner(a, p); o != s.Name {
				t.Fatalf("%s:%d of %q is owned by %q", a, p, s.Name, o)
			}
		}
	}
}
