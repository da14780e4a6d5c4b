package bench

import (
	"io"
	"slices"
	"testing"
	"time"
)

// A small run in each mode: every client ACKs the initial version and then
// each rotation's, exactly once and in order, and the report's figures agree
// with each other. No timing is asserted.
func TestRunEveryClientFollowsEveryRotation(t *testing.T) {
	const clients, rotations = 20, 3
	for _, mode := range []Mode{SOTW, Delta} {
		t.Run(string(mode), func(t *testing.T) {
			rep, err := Run(t.Context(), Config{Clients: clients, Rotations: rotations, Mode: mode}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Rounds) != rotations {
				t.Fatalf("%d rotations reported, want %d", len(rep.Rounds), rotations)
			}
			want := []string{rep.InitialVersion}
			endpoints := map[string]bool{}
			for k, rot := range rep.Rounds {
				want = append(want, rot.Version)
				if len(rot.Convergence) != clients {
					t.Errorf("rotation %d: %d convergence times, want %d", k+1, len(rot.Convergence), clients)
				}
				if slices.Min(rot.Convergence) <= 0 {
					t.Errorf("rotation %d: a client converged before the Move call: %v", k+1, rot.Convergence)
				}
				endpoints[rot.Endpoints] = true
			}
			if len(endpoints) != rotations || endpoints["127.0.0.1:20000"] {
				t.Errorf("rotations went to %v, want %d new ports", endpoints, rotations)
			}
			if v := slices.Compact(slices.Clone(want)); len(v) != rotations+1 {
				t.Errorf("versions %q: a rotation did not bring a new version", want)
			}
			for i, h := range rep.History {
				if !slices.Equal(h, want) {
					t.Errorf("client %d ACKed EDS versions %q, want %q", i, h, want)
				}
			}
			if len(rep.History) != clients {
				t.Errorf("history of %d clients, want %d", len(rep.History), clients)
			}
			checkFigures(t, rep)
		})
	}
}

func checkFigures(t *testing.T, rep *Report) {
	t.Helper()
	c := rep.Convergence()
	if len(c) != rep.Clients*rep.Rotations {
		t.Errorf("%d convergence samples, want %d", len(c), rep.Clients*rep.Rotations)
	}
	p50, p90, p99, top := Quantile(c, 0.5), Quantile(c, 0.9), Quantile(c, 0.99), Quantile(c, 1)
	if !(p50 <= p90 && p90 <= p99 && p99 <= top) || top != slices.Max(rep.Lasts()) {
		t.Errorf("p50 %v p90 %v p99 %v max %v, last ACKs %v: not ordered", p50, p90, p99, top, rep.Lasts())
	}
	if rep.Ramp <= 0 || rep.RampCPU.Total < 0 || rep.RotationCPU.Total < 0 {
		t.Errorf("ramp %v, CPU %v and %v", rep.Ramp, rep.RampCPU.Total, rep.RotationCPU.Total)
	}
	if rep.MemBefore.Heap == 0 || rep.MemAfterRamp.RSS == 0 {
		t.Errorf("memory %+v then %+v", rep.MemBefore, rep.MemAfterRamp)
	}
	for _, p := range []phaseCPU{rep.RampCPU, rep.RotationCPU} {
		var sum float64
		for side := range p.Shares {
			s, _ := p.Share(side)
			sum += s
		}
		if len(p.Shares) > 0 && (sum < 0.999 || sum > 1.001) {
			t.Errorf("CPU shares %v sum to %v", p.Shares, sum)
		}
	}
}

func TestConfigRefused(t *testing.T) {
	for _, cfg := range []Config{
		{Clients: 0, Rotations: 1, Mode: SOTW},
		{Clients: MaxClients + 1, Rotations: 1, Mode: SOTW},
		{Clients: 1, Rotations: 0, Mode: SOTW},
		{Clients: 1, Rotations: 1, Mode: "incremental"},
	} {
		if _, err := Run(t.Context(), cfg, io.Discard); err == nil {
			t.Errorf("%+v: ran", cfg)
		}
	}
}

func TestQuantile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{nil, 0.5, 0},
		{ms(7), 0.99, 7 * time.Millisecond},
		{ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{ms(1, 2, 3, 4), 1, 4 * time.Millisecond},
		{ms(1, 2, 3, 4), 0, 1 * time.Millisecond},
		{ms(hundred...), 0.99, 99 * time.Millisecond},
		{ms(hundred...), 0.9, 90 * time.Millisecond},
	} {
		if got := Quantile(tc.sorted, tc.q); got != tc.want {
			t.Errorf("Quantile(%d samples, %v) = %v, want %v", len(tc.sorted), tc.q, got, tc.want)
		}
	}
}

func TestGoal(t *testing.T) {
	rep := func(n int, conv ...time.Duration) *Report {
		return &Report{Clients: n, Rounds: []Rotation{{Convergence: conv}}}
	}
	for _, tc := range []struct {
		name          string
		reps          []*Report
		measured, met bool
	}{
		{"no 1,000-client run", []*Report{rep(5000, time.Millisecond)}, false, false},
		{"met", []*Report{rep(1000, time.Millisecond, GoalP99)}, true, true},
		{"missed", []*Report{rep(1000, GoalP99+1)}, true, false},
	} {
		measured, met, _ := Goal(tc.reps)
		if measured != tc.measured || met != tc.met {
			t.Errorf("%s: measured %v met %v, want %v %v", tc.name, measured, met, tc.measured, tc.met)
		}
	}
}
