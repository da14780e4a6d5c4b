package policy

import (
	"runtime/debug"
	"strings"
	"sync"
	"testing"
)

func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// Overlapping loads lower the GC percent once and restore it when the last
// one ends; a percent already lower, or GC off, is left as it was.
func TestHoldGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, before := range []int{100, 300, 5, -1} {
		debug.SetGCPercent(before)
		want := min(before, loadGCPercent)
		if before < 0 {
			want = -1
		}
		a := holdGC()
		b := holdGC()
		if got := gcPercent(); got != want {
			t.Errorf("from %d: %d while two loads hold it, want %d", before, got, want)
		}
		a()
		if got := gcPercent(); got != want {
			t.Errorf("from %d: %d while one load holds it, want %d", before, got, want)
		}
		b()
		if got := gcPercent(); got != before {
			t.Errorf("from %d: %d after the loads, want it back", before, got)
		}
	}
}

// Large files parsed at once, some failing, leave the percent as it was.
func TestLargeParsesRestoreGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(150))
	big := "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: big, namespace: shop}\nspec:\n  rules:\n" +
		strings.Repeat("  - to: [{operation: {methods: [GET], paths: [/x]}}]\n", largeFile/50)
	bad := strings.Replace(big, "/x]", "/a/*/b]", 1)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := []string{big, bad}[i%2]
			if _, err := Parse("big.yaml", []byte(in)); (err == nil) != (in == big) {
				t.Errorf("parse %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if got := gcPercent(); got != 150 {
		t.Fatalf("GC percent %d after the loads, want 150", got)
	}
}
