package policy

import (
	"os"
	"regexp"
	"testing"

	"gopkg.in/yaml.v3"
)

// istioCase is one case of Istio's validation tables (testdata/istio).
type istioCase struct {
	Table        string            `yaml:"table"`
	Name         string            `yaml:"name"`
	Istio        string            `yaml:"istio"`
	Differs      string            `yaml:"differs"`
	Annotations  map[string]string `yaml:"annotations"`
	Spec         map[string]any    `yaml:"spec"`
	Condition    map[string]any    `yaml:"condition"`
	Paths        []string          `yaml:"paths"`
	TrustDomains []string          `yaml:"trustDomains"`
}

// resource writes the case as an AuthorizationPolicy, its shorthands spelt out.
func (c *istioCase) resource(t *testing.T) []byte {
	spec := c.Spec
	switch {
	case c.Condition != nil:
		spec = map[string]any{"rules": []any{map[string]any{"when": []any{c.Condition}}}}
	case c.Paths != nil:
		spec = map[string]any{"rules": []any{map[string]any{"to": []any{map[string]any{"operation": map[string]any{"paths": c.Paths}}}}}}
	case c.TrustDomains != nil:
		spec = map[string]any{"rules": []any{map[string]any{"from": []any{map[string]any{"source": map[string]any{"trustDomains": c.TrustDomains}}}}}}
	}
	meta := map[string]any{"name": "name", "namespace": "namespace"}
	if c.Annotations != nil {
		meta["annotations"] = c.Annotations
	}
	out, err := yaml.Marshal(map[string]any{"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy", "metadata": meta, "spec": spec})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var fileLineReason = regexp.MustCompile(`^case\.yaml:[0-9]+: \S`)

// Lint agrees with Istio's validation on every ported case but the
// deliberate differences, which go the other way for the reason they give.
func TestIstioValidationTable(t *testing.T) {
	data, err := os.ReadFile("testdata/istio/validation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var table struct {
		Cases []istioCase `yaml:"cases"`
	}
	if err := yaml.Unmarshal(data, &table); err != nil {
		t.Fatal(err)
	}
	agree, differ := 0, 0
	for _, c := range table.Cases {
		if c.Istio != "valid" && c.Istio != "invalid" {
			t.Fatalf("%s: istio: %q, want valid or invalid", c.Name, c.Istio)
		}
		want := c.Istio == "valid"
		if c.Differs != "" {
			want = !want
			differ++
		} else {
			agree++
		}
		_, err := Parse("case.yaml", c.resource(t))
		if (err == nil) != want {
			t.Errorf("%s/%s: Istio says %s (differs: %q), lint says %v", c.Table, c.Name, c.Istio, c.Differs, err)
		}
		if err != nil && !fileLineReason.MatchString(err.Error()) {
			t.Errorf("%s/%s: error %q is not file:line: reason", c.Table, c.Name, err)
		}
	}
	t.Logf("%d Istio validation cases: %d agree, %d deliberate differences", len(table.Cases), agree, differ)
	if len(table.Cases) != 134 || differ != 7 {
		t.Errorf("%d cases, %d differences: the README's counts say 134 and 7", len(table.Cases), differ)
	}
}
