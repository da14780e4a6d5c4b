package install

import (
	"encoding/json"
	"os"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	meshconfig "istio.io/api/mesh/v1alpha1"
	"sigs.k8s.io/yaml"
)

// The IstioOperator overlay's meshConfig is one Istio's MeshConfig accepts
// (unknown fields refused), and its provider names the authorizer's
// Service and gRPC port, failing closed.
func TestIstioOperatorOverlay(t *testing.T) {
	b, err := os.ReadFile(manifests + "/istio/operator.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var op struct {
		Kind string
		Spec struct {
			MeshConfig json.RawMessage `json:"meshConfig"`
		}
	}
	if err := yaml.Unmarshal(b, &op); err != nil || op.Kind != "IstioOperator" {
		t.Fatalf("%s %v", op.Kind, err)
	}
	var mc meshconfig.MeshConfig
	if err := protojson.Unmarshal(op.Spec.MeshConfig, &mc); err != nil {
		t.Fatalf("meshConfig: %v", err)
	}
	svc := find(render(t, "overlays/minimal"), "Service", "meshward-authz")
	var grpcPort any
	for _, p := range asList(get(svc, "spec", "ports")) {
		if get(p, "name") == "grpc" {
			grpcPort = get(p, "port")
		}
	}
	var found bool
	for _, p := range mc.GetExtensionProviders() {
		g := p.GetEnvoyExtAuthzGrpc()
		if p.GetName() != "meshward" || g == nil {
			continue
		}
		found = true
		if g.GetService() != "meshward-authz.meshward-system.svc.cluster.local" || int(g.GetPort()) != grpcPort || g.GetFailOpen() {
			t.Errorf("provider %v; the Service's grpc port is %v", g, grpcPort)
		}
	}
	if !found {
		t.Fatal("no envoyExtAuthzGrpc provider named meshward")
	}
}
