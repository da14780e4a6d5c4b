package bench

import (
	"fmt"
	"testing"

	"github.com/meshward/meshward/extauthz/policy"
)

func TestGenerated(t *testing.T) {
	for _, n := range []int{10, 1000, 10000} {
		set, err := Set(n)
		if err != nil {
			t.Fatal(err)
		}
		if set.Len() < n {
			t.Fatalf("%d rules, want at least %d", set.Len(), n)
		}
		allowed := 0
		reqs := Requests(n, 1000, 1)
		for _, r := range reqs {
			if set.Evaluate(r).Allow {
				allowed++
			}
		}
		// Nine in ten are meant to be allowed; the rest ask for /admin.
		if allowed < 850 || allowed > 950 {
			t.Fatalf("n=%d: %d of 1000 allowed", n, allowed)
		}
	}
}

func BenchmarkEvaluate(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			set, err := Set(n)
			if err != nil {
				b.Fatal(err)
			}
			reqs := Requests(n, 4096, 1)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				set.Evaluate(reqs[i&4095])
			}
		})
	}
}

// BenchmarkParse is the cost of loading the 10,000-rule file: its bytes per
// op are the garbage that sets the authorizer's peak memory at start.
func BenchmarkParse(b *testing.B) {
	data := []byte(Policies(10000))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := policy.Parse("generated.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}
