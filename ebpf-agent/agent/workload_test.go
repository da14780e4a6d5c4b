package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseWorkload(t *testing.T) {
	dir := t.TempDir()
	w, err := ParseWorkload("spiffe://cluster.local/ns/shop/sa/frontend=" + dir)
	if err != nil || w.CgroupDir != dir || w.CgroupID == 0 || w.Identity != "spiffe://cluster.local/ns/shop/sa/frontend" {
		t.Fatalf("got %+v, %v", w, err)
	}
	for in, want := range map[string]string{
		"frontend":      "want SPIFFE_ID=CGROUP_DIR",
		"frontend=/tmp": "not a spiffe",
		"spiffe://cluster.local/ns/a/sa/b=/nonexistent/x": "cgroup directory",
		"=/tmp": "want SPIFFE_ID=CGROUP_DIR",
	} {
		if _, err := ParseWorkload(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%q: err %v, want %q", in, err, want)
		}
	}
}

func TestContainersFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "containers.yaml")
	os.WriteFile(file, []byte(`containers:
- workload: spiffe://cluster.local/ns/shop/sa/orders
  cgroup: `+dir+`
  container: shop/orders/app
  image: sha256:4f2a
- workload: spiffe://cluster.local/ns/shop/sa/frontend
  cgroup: /
`), 0o600)
	ws, err := LoadContainers(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 || ws[0].Container != "shop/orders/app" || ws[0].Image != "sha256:4f2a" || ws[0].CgroupID == 0 ||
		ws[1].Container != "spiffe://cluster.local/ns/shop/sa/frontend" || ws[1].Image != "unknown" {
		t.Fatalf("got %+v", ws)
	}
	for in, want := range map[string]string{
		"containers:\n- workload: x\n":                                                                                  "c.yaml: containers[0]: want workload and cgroup",
		"containers:\n- {workload: spiffe://td/ns/a/sa/b, cgroup: /a, imag: x}":                                         "field imag not found",
		"containers:\n- {workload: orders, cgroup: /a}":                                                                 "containers[0]: ",
		"containers:\n- {workload: spiffe://td/ns/a/sa/b, cgroup: /a}\n- {workload: spiffe://td/ns/a/sa/c, cgroup: /a}": "containers[1]: cgroup /a is containers[0]'s already",
	} {
		if _, err := ParseContainers([]byte(in), "c.yaml"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
	os.WriteFile(file, []byte("containers:\n- {workload: spiffe://td/ns/a/sa/b, cgroup: /nonexistent/cg}\n"), 0o600)
	if _, err := LoadContainers(file); err == nil || !strings.Contains(err.Error(), "containers[0] (spiffe://td/ns/a/sa/b): cgroup directory") {
		t.Errorf("missing cgroup: %v", err)
	}
}

func FuzzParseContainers(f *testing.F) {
	f.Add([]byte("containers:\n- {workload: spiffe://cluster.local/ns/a/sa/b, cgroup: /a, container: c, image: sha256:1}\n"))
	f.Add([]byte("containers: [{workload: x}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ws, err := ParseContainers(data, "f.yaml")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml: ") {
				t.Fatalf("error does not say where: %v", err)
			}
			return
		}
		for _, w := range ws {
			if w.Identity == "" || w.CgroupDir == "" || w.Container == "" || w.Image == "" {
				t.Fatalf("accepted an incomplete container: %+v", w)
			}
		}
	})
}
