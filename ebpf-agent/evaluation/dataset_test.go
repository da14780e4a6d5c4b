package evaluation

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path"
	"strings"
	"testing"

	"github.com/meshward/meshward/ebpf-agent/profile"
	"github.com/meshward/meshward/ebpf-agent/trace"
)

// loadDataset reads the committed dataset: traces by their folder
// (WORKLOAD/VERSION/SET).
func loadDataset(t *testing.T) map[string][]trace.Trace {
	t.Helper()
	f, err := os.Open("../dataset/dataset.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	sets := map[string][]trace.Trace{}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return sets
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		tc, err := trace.ReadADFA(tr, h.Name)
		if err != nil {
			t.Fatal(err)
		}
		dir := strings.TrimPrefix(path.Dir(h.Name), "./")
		sets[dir] = append(sets[dir], tc)
	}
}

// The agent's profile, at its defaults, on the project's dataset: the goals
// of issue 4 hold, pooled over nginx, redis and postgres (what `make
// eval-agent` prints in full).
func TestDatasetGoals(t *testing.T) {
	sets := loadDataset(t)
	cfg := profile.DefaultConfig()
	var base, first Metrics
	for _, w := range []string{"nginx", "redis", "postgres"} {
		if len(sets[w+"/v1/train"]) == 0 || len(sets[w+"/v2/attack"]) == 0 {
			t.Fatalf("%s: dataset incomplete", w)
		}
		add(&base, Run(sets[w+"/v1/train"], sets[w+"/v1/normal"], sets[w+"/v1/attack"], cfg).Window)
		add(&first, Run(sets[w+"/v1/train"], sets[w+"/v2/first"], sets[w+"/v2/attack"], cfg).Window)
	}
	bp, br := ratio(base.TP, base.TP+base.FP), ratio(base.TP, base.TP+base.FN)
	fr := ratio(first.TP, first.TP+first.FN)
	t.Logf("base: precision %.3f recall %.3f; first round after the update: recall %.3f", bp, br, fr)
	if bp < 0.95 || br < 0.90 || fr < 0.90 {
		t.Fatalf("goals: base precision %.3f (>= 0.95) recall %.3f (>= 0.90); after the update recall %.3f (>= 0.90)", bp, br, fr)
	}
}

func add(to *Metrics, m Metrics) {
	to.TP, to.FP, to.FN, to.TN = to.TP+m.TP, to.FP+m.FP, to.FN+m.FN, to.TN+m.TN
}
