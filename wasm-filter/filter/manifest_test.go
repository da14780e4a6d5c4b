package filter

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"gopkg.in/yaml.v3"
)

// Each WasmPlugin shipped in manifests/ has a pluginConfig the filter
// accepts, and its EaaS direction is the side Istio runs it on.
func TestManifestPluginConfig(t *testing.T) {
	data, err := os.ReadFile("../../manifests/mesh/wasmplugin/wasmplugin.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	want := map[string]Direction{"SERVER": Inbound, "CLIENT": Outbound}
	seen := map[Direction]bool{}
	for {
		var doc struct {
			Kind string `yaml:"kind"`
			Spec struct {
				Match        []struct{ Mode string } `yaml:"match"`
				PluginConfig map[string]any          `yaml:"pluginConfig"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		if doc.Kind != "WasmPlugin" || len(doc.Spec.Match) != 1 {
			t.Fatalf("kind %q with %d match entries", doc.Kind, len(doc.Spec.Match))
		}
		js, err := json.Marshal(doc.Spec.PluginConfig) // Istio hands the filter JSON
		if err != nil {
			t.Fatal(err)
		}
		c, err := ParseConfig(js)
		if err != nil {
			t.Fatal(err)
		}
		if c.FailMode != FailClosed || c.AuthorizerCluster == "" || !c.EAAS.Enabled {
			t.Fatalf("config %+v", c)
		}
		if d := want[doc.Spec.Match[0].Mode]; c.EAAS.Direction != d {
			t.Fatalf("mode %s runs direction %q, want %q", doc.Spec.Match[0].Mode, c.EAAS.Direction, d)
		}
		seen[c.EAAS.Direction] = true
	}
	if !seen[Inbound] || !seen[Outbound] {
		t.Fatalf("plugins for %v, want both sides", seen)
	}
}

// The base (and the minimal overlay) ship one authorizer: replicas without
// the HA overlay's shared state keep quarantine sets of
// their own, and the filter can drop its cache when the answering replica
// changes but cannot make another replica deny (issue 8, finding 4).
func TestManifestShipsOneAuthorizer(t *testing.T) {
	data, err := os.ReadFile("../../manifests/base/authz.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
			Spec struct {
				Replicas *int `yaml:"replicas"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("no meshward-authz Deployment: %v", err)
		}
		if doc.Kind == "Deployment" && doc.Metadata.Name == "meshward-authz" {
			if doc.Spec.Replicas == nil {
				t.Fatal("meshward-authz sets no replicas (Kubernetes' default is 1, but say it)")
			}
			if n := *doc.Spec.Replicas; n != 1 {
				t.Fatalf("meshward-authz has %d replicas, want 1 until replicas share state", n)
			}
			return
		}
	}
}
