package policy

import (
	"fmt"
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

// istioRequest is one request of testdata/istio/requests.yaml and the
// decision Istio would make.
type istioRequest struct {
	Name             string            `yaml:"name"`
	Source           *string           `yaml:"source"`
	RequestPrincipal string            `yaml:"requestPrincipal"`
	Labels           map[string]string `yaml:"labels"`
	Host             string            `yaml:"host"`
	Method           string            `yaml:"method"`
	Path             string            `yaml:"path"`
	Allow            bool              `yaml:"allow"`
	Reason           string            `yaml:"reason"`
	Rule             string            `yaml:"rule"`
	DryRunAllow      *bool             `yaml:"dryRunAllow"`
}

func (c *istioRequest) request() *Request {
	r := &Request{SourcePrincipal: "spiffe://cluster.local/ns/foo/sa/sleep", SourceAddress: "127.0.0.1:40000",
		RequestPrincipal: c.RequestPrincipal, DestinationNamespace: "foo", DestinationLabels: map[string]string{"app": "httpbin"},
		DestinationAddress: "127.0.0.1:8000", Host: "httpbin.foo", Method: "GET", Path: "/"}
	if c.Source != nil {
		r.SourcePrincipal = *c.Source
	}
	if c.Labels != nil {
		r.DestinationLabels = c.Labels
	}
	for _, f := range []struct {
		to *string
		v  string
	}{{&r.Host, c.Host}, {&r.Method, c.Method}, {&r.Path, c.Path}} {
		if f.v != "" {
			*f.to = f.v
		}
	}
	return r
}

// Requests get Istio's decisions (meshward's default deny aside, which
// these policies never reach unless a case says so).
func TestIstioRequestTable(t *testing.T) {
	data, err := os.ReadFile("testdata/istio/requests.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var table struct {
		Groups []struct {
			Name     string         `yaml:"name"`
			Istio    string         `yaml:"istio"`
			Policies string         `yaml:"policies"`
			Requests []istioRequest `yaml:"requests"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &table); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range table.Groups {
		set, err := Parse(g.Name, []byte(g.Policies))
		if err != nil {
			t.Fatalf("%s: %v", g.Name, err)
		}
		for _, c := range g.Requests {
			n++
			got := set.Evaluate(c.request())
			if why := judgeIstio(got, &c); why != "" {
				t.Errorf("%s / %s: %s", g.Name, c.Name, why)
			}
			if e := set.Explain(c.request()); e.Result.Allow != got.Allow {
				t.Errorf("%s / %s: explain says allow=%v, evaluate %v", g.Name, c.Name, e.Result.Allow, got.Allow)
			}
		}
	}
	t.Logf("%d request cases in %d groups", n, len(table.Groups))
}

func judgeIstio(got Result, c *istioRequest) string {
	rule := ""
	if got.Rule != nil {
		rule = got.Rule.Name()
	}
	switch {
	case got.Allow != c.Allow:
		return fmt.Sprintf("allow=%v (%s %s), want %v", got.Allow, got.Reason, rule, c.Allow)
	case c.Reason != "" && got.Reason != c.Reason:
		return fmt.Sprintf("reason %s, want %s", got.Reason, c.Reason)
	case c.Rule != "" && rule != c.Rule:
		return fmt.Sprintf("rule %q, want %q", rule, c.Rule)
	case c.DryRunAllow != nil && (got.DryRun == nil || got.DryRun.Allow != *c.DryRunAllow):
		return fmt.Sprintf("dry-run %+v, want allow=%v", got.DryRun, *c.DryRunAllow)
	}
	return ""
}
