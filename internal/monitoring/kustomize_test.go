package monitoring

import (
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// The kustomization renders the three PodMonitors, the rules and the
// dashboard's ConfigMap (named without a hash, so Grafana keeps one copy,
// labelled for Grafana's sidecar and holding dashboard.json as it is), all
// in meshward-system.
func TestKustomization(t *testing.T) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), abs)
	if err != nil {
		t.Fatal(err)
	}
	dash, err := os.ReadFile(filepath.Join(dir, "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, r := range m.Resources() {
		kinds[r.GetKind()]++
		if r.GetNamespace() != "meshward-system" {
			t.Errorf("%s %s in namespace %q", r.GetKind(), r.GetName(), r.GetNamespace())
		}
		if r.GetKind() != "ConfigMap" {
			continue
		}
		if r.GetName() != "meshward-dashboard" || r.GetLabels()["grafana_dashboard"] != "1" || r.GetDataMap()["meshward.json"] != string(dash) {
			t.Errorf("dashboard ConfigMap %s labels %v, data equal: %v", r.GetName(), r.GetLabels(), r.GetDataMap()["meshward.json"] == string(dash))
		}
	}
	if kinds["PodMonitor"] != 3 || kinds["PrometheusRule"] != 1 || kinds["ConfigMap"] != 1 || len(kinds) != 3 {
		t.Fatalf("rendered %v", kinds)
	}
}
