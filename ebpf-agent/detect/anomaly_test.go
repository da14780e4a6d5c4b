package detect

import (
	"strings"
	"testing"

	"github.com/meshward/meshward/ebpf-agent/profile"
)

func TestAnomalyAlarm(t *testing.T) {
	a, err := NewAnomaly(2, 4)
	if err != nil {
		t.Fatal(err)
	}
	ok := profile.Judgement{PID: 1, Score: 0}
	bad := func(pid uint32, s float64) profile.Judgement {
		return profile.Judgement{PID: pid, Score: s, Anomalous: true, Window: []uint32{59, 12, 9}}
	}
	steps := []struct {
		j    profile.Judgement
		fire bool
	}{
		{bad(7, 0.3), false}, {ok, false}, {ok, false}, {ok, false},
		{bad(8, 0.4), false}, // the first anomaly has left the last 4
		{ok, false},
		{bad(9, 0.9), true},   // 2 of the last 4
		{bad(10, 0.5), false}, // started over
		{ok, false}, {ok, false}, {ok, false}, {ok, false},
		{bad(11, 0.5), false},
	}
	for i, s := range steps {
		f, fired := a.Add("spiffe://cluster.local/ns/shop/sa/orders", s.j)
		if fired != s.fire {
			t.Fatalf("step %d: fired %v, want %v", i, fired, s.fire)
		}
		if fired {
			if f.Reason != "syscall-anomaly" || f.Score != 0.9 || len(f.Evidence) != 2 ||
				!strings.HasPrefix(f.Evidence[0], "thread 9: window of 3 calls scored 0.90, starting 59 12 9") ||
				!strings.HasPrefix(f.Evidence[1], "thread 8: window of 3 calls scored 0.40") {
				t.Fatalf("finding %+v", f)
			}
		}
	}
	for _, kn := range [][2]int{{0, 4}, {5, 4}, {1, 1 << 17}} {
		if _, err := NewAnomaly(kn[0], kn[1]); err == nil {
			t.Errorf("NewAnomaly(%d, %d) accepted", kn[0], kn[1])
		}
	}
}
