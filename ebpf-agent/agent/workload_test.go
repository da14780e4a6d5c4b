package agent

import (
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
