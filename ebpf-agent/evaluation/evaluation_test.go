package evaluation

import (
	"math"
	"testing"

	"github.com/meshward/meshward/ebpf-agent/profile"
	"github.com/meshward/meshward/ebpf-agent/trace"
)

func TestAUC(t *testing.T) {
	for _, tc := range []struct {
		ss   []scored
		want float64
	}{
		{[]scored{{0.1, false}, {0.2, false}, {0.8, true}, {0.9, true}}, 1},
		{[]scored{{0.9, false}, {0.1, true}}, 0},
		{[]scored{{0.5, false}, {0.5, true}}, 0.5},
		{[]scored{{0.1, false}, {0.4, true}, {0.35, false}, {0.8, true}}, 1},
		{[]scored{{0.1, false}, {0.3, true}, {0.35, false}, {0.8, true}}, 0.75},
	} {
		if got := auc(tc.ss); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("auc(%v) = %v, want %v", tc.ss, got, tc.want)
		}
	}
}

// A service's loop is normal; an attack trace that runs other calls is
// flagged, window by window and as a trace.
func TestRun(t *testing.T) {
	loop := func(n int) []uint32 {
		var s []uint32
		for i := 0; i < n; i++ {
			s = append(s, 0, 1, 3, 45, 232, 1, 0)
		}
		return s
	}
	attack := append(loop(5), 59, 33, 33, 2, 0, 1, 59, 41, 42, 0, 59, 56, 61) // exec, dup2, connect...
	train := []trace.Trace{{ID: "t", Syscalls: loop(50)}}
	normal := []trace.Trace{{ID: "n1", Syscalls: loop(20)}, {ID: "n2", Syscalls: loop(9)}}
	attacks := []trace.Trace{{ID: "a", Syscalls: attack}}
	r := Run(train, normal, attacks, profile.Config{Window: 14, N: 3, Threshold: 0.1})
	if r.Trace.TP != 1 || r.Trace.FP != 0 || r.Trace.AUC != 1 {
		t.Fatalf("trace level %+v", r.Trace)
	}
	if r.Window.FP != 0 || r.Window.TP == 0 || r.Window.Precision != 1 {
		t.Fatalf("window level %+v", r.Window)
	}
}
