package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func allowPolicy(method string) string {
	return "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: shop}\nspec:\n  rules:\n  - to: [{operation: {methods: [" + method + "]}}]\n"
}

func TestWatcher(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.yaml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(allowPolicy("GET"))
	w := NewWatcher(0, dir)
	var applied []*Set
	var rejected []error
	w.OnApply = func(s *Set) { applied = append(applied, s) }
	w.OnReject = func(err error) { rejected = append(rejected, err) }
	set, err := w.Load()
	if err != nil || !set.Evaluate(req(frontend, "/")).Allow {
		t.Fatalf("initial load: %v", err)
	}
	if changed, err := w.Check(); changed || err != nil {
		t.Fatalf("no change reloaded: %v %v", changed, err)
	}
	write(allowPolicy("POST"))
	if changed, err := w.Check(); !changed || err != nil || len(applied) != 1 {
		t.Fatalf("change not applied: %v %v", changed, err)
	}
	if applied[0].Evaluate(req(frontend, "/")).Allow || !applied[0].Evaluate(req(frontend, "/", method("POST"))).Allow {
		t.Fatal("the new set does not say what the file says")
	}
	write(allowPolicy("GET") + "  - to: [{operation: {ports: [\"x\"]}}]\n")
	if changed, err := w.Check(); changed || err == nil || !strings.Contains(err.Error(), "p.yaml:7:") || len(rejected) != 1 {
		t.Fatalf("invalid change: %v %v", changed, err)
	}
	if changed, _ := w.Check(); changed || len(rejected) != 1 {
		t.Fatal("a rejected version was tried again without a change")
	}
	os.WriteFile(filepath.Join(dir, "q.yml"), []byte(strings.Replace(allowPolicy("PUT"), "name: p", "name: q", 1)), 0o600)
	write(allowPolicy("GET"))
	if changed, err := w.Check(); !changed || err != nil || len(applied) != 2 || applied[1].Policies() != 2 {
		t.Fatalf("fixed file and a new file: %v %v", changed, err)
	}
}

// Run applies a version only once two polls in a row saw it: a file caught
// half written (here: empty, which would be a valid set of no policies)
// is passed over.
func TestWatcherWaitsForSettledFiles(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.yaml")
	os.WriteFile(file, []byte(allowPolicy("GET")), 0o600)
	w := NewWatcher(0, dir)
	if _, err := w.Load(); err != nil {
		t.Fatal(err)
	}
	w.settled() // the first poll sees the loaded version
	os.WriteFile(file, nil, 0o600)
	if w.settled() {
		t.Fatal("a version seen by one poll counts as settled")
	}
	os.WriteFile(file, []byte(allowPolicy("POST")), 0o600)
	if w.settled() {
		t.Fatal("the written file counts as settled at its first sight")
	}
	if !w.settled() {
		t.Fatal("an unchanged file is not settled")
	}
}
