package filter

import (
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
