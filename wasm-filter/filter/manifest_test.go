package filter

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"gopkg.in/yaml.v3"
)

// The pluginConfig shipped in manifests/ is one the filter accepts.
func TestManifestPluginConfig(t *testing.T) {
	data, err := os.ReadFile("../../manifests/wasmplugin.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Kind string `yaml:"kind"`
		Spec struct {
			PluginConfig map[string]any `yaml:"pluginConfig"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Kind != "WasmPlugin" {
		t.Fatalf("kind %q", doc.Kind)
	}
	js, err := json.Marshal(doc.Spec.PluginConfig) // Istio hands the filter JSON
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig(js)
	if err != nil {
		t.Fatal(err)
	}
	if c.FailMode != FailClosed || c.AuthorizerCluster == "" {
		t.Fatalf("config %+v", c)
	}
}

// The authorizer ships as one replica: replicas keep quarantine sets of
// their own, and the filter can drop its cache when the answering replica
// changes but cannot make another replica deny (issue 8, finding 4).
func TestManifestShipsOneAuthorizer(t *testing.T) {
	data, err := os.ReadFile("../../manifests/meshward.yaml")
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
