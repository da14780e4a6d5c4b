package workloads

import (
	"strings"
	"testing"
)

const shop = `
workloads:
- identity: spiffe://cluster.local/ns/shop/sa/orders
  labels: {app: orders, version: v1}
  services: [orders]
- identity: spiffe://cluster.local/ns/shop/sa/catalog
  labels: {app: catalog}
`

func TestVouch(t *testing.T) {
	r, err := Parse("w.yaml", []byte(shop))
	if err != nil {
		t.Fatal(err)
	}
	const orders, catalog = "spiffe://cluster.local/ns/shop/sa/orders", "spiffe://cluster.local/ns/shop/sa/catalog"
	for _, c := range []struct {
		name    string
		id      string
		labels  map[string]string
		service string
		ok      bool
	}{
		{"its own labels", orders, map[string]string{"app": "orders", "version": "v1"}, "orders", true},
		{"some of its labels", orders, map[string]string{"app": "orders"}, "", true},
		{"no labels", catalog, nil, "", true},
		{"another's labels (the oracle)", catalog, map[string]string{"app": "orders"}, "", false},
		{"an extra label", catalog, map[string]string{"app": "catalog", "tier": "admin"}, "", false},
		{"another's service", catalog, nil, "orders", false},
		{"a label value of another", orders, map[string]string{"app": "orders", "version": "v2"}, "", false},
		{"unknown identity", "spiffe://cluster.local/ns/shop/sa/ghost", nil, "", false},
	} {
		if err := r.Vouch(c.id, c.labels, c.service); (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// Learn mode writes selectors from the registry, never from a claim: an
// empty claim must not become a namespace-wide policy (red team 2).
func TestLabelsForSelectors(t *testing.T) {
	r, err := Parse("w.yaml", []byte(shop+"- identity: spiffe://cluster.local/ns/shop/sa/catalog\n  labels: {app: catalog, tier: 2}\n"))
	if err != nil {
		t.Fatal(err)
	}
	const orders, catalog = "spiffe://cluster.local/ns/shop/sa/orders", "spiffe://cluster.local/ns/shop/sa/catalog"
	if l, ok := r.Labels(orders, nil, ""); !ok || l["app"] != "orders" || l["version"] != "v1" {
		t.Errorf("orders' empty claim: %v %v, want its whole labels", l, ok)
	}
	if _, ok := r.Labels(catalog, nil, ""); ok {
		t.Error("an empty claim that fits two of catalog's workloads picked one")
	}
	if l, ok := r.Labels(catalog, map[string]string{"tier": "2"}, ""); !ok || l["app"] != "catalog" {
		t.Errorf("catalog tier 2: %v %v", l, ok)
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"workloads:\n- identity: frontend\n", "w.yaml:2: workloads[0]: identity \"frontend\""},
		{"workloads:\n- identity: spiffe://cluster.local/ns/shop/sa/a\n  labels: {\"\": x}\n", "w.yaml:2: workloads[0]: a label key is empty"},
		{"workloads:\n- identity: spiffe://cluster.local/ns/shop/sa/a\n  services: [\"\"]\n", "a service name is empty"},
		{"workload:\n- identity: x\n", "unknown field \"workload\""},
		{"workloads: [", "w.yaml: yaml"},
		{"workloads:\n- identity: spiffe://cluster.local/ns/shop/sa/a\n  lables: {app: a}\n", "line 3: unknown field \"lables\""},
	} {
		_, err := Parse("w.yaml", []byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.in, err, c.want)
		}
	}
	if r, err := Parse("w.yaml", nil); err != nil || r.Len() != 0 {
		t.Errorf("empty file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(shop))
	f.Add([]byte("workloads: [{identity: x}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse("f.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Fatalf("error without the file: %v", err)
			}
			return
		}
		_ = r.Vouch("spiffe://cluster.local/ns/a/sa/b", map[string]string{"a": "b"}, "s")
	})
}
