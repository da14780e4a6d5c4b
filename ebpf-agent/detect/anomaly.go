package detect

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/meshward/meshward/ebpf-agent/profile"
)

// Anomaly raises an alarm for a container when K of the last N windows its
// profile judged were anomalous: one odd window is a fact of life at the
// rates of a busy server, a cluster of them is a container doing what it
// never did. It is not safe for concurrent use.
type Anomaly struct {
	k, n     int
	recent   []bool // the last n judgements, a ring
	at, hits int
	evidence []profile.Judgement // the anomalous windows among them
}

// NewAnomaly returns the rule for k anomalous windows among the last n.
func NewAnomaly(k, n int) (*Anomaly, error) {
	if k < 1 || n < k || n > 1<<16 {
		return nil, fmt.Errorf("detect: alarm on %d of the last %d windows: want 1 <= k <= n <= 65536", k, n)
	}
	return &Anomaly{k: k, n: n, recent: make([]bool, n)}, nil
}

// Add takes one judged window and returns a finding when the alarm fires;
// the rule then starts over.
func (a *Anomaly) Add(workload string, j profile.Judgement) (Finding, bool) {
	if a.recent[a.at] {
		a.hits--
		a.evidence = a.evidence[1:]
	}
	a.recent[a.at] = j.Anomalous
	a.at = (a.at + 1) % a.n
	if !j.Anomalous {
		return Finding{}, false
	}
	a.hits++
	a.evidence = append(a.evidence, j)
	if a.hits < a.k {
		return Finding{}, false
	}
	// The most telling window first.
	slices.SortStableFunc(a.evidence, func(x, y profile.Judgement) int { return cmp.Compare(y.Score, x.Score) })
	f := Finding{Workload: workload, Reason: "syscall-anomaly", Score: a.evidence[0].Score}
	for _, e := range a.evidence {
		f.Evidence = append(f.Evidence, describe(e))
	}
	clear(a.recent)
	a.at, a.hits, a.evidence = 0, 0, a.evidence[:0]
	return f, true
}

// describe says which window was novel and how: its process, score and
// first calls (numbers only: arguments are never collected).
func describe(j profile.Judgement) string {
	head := j.Window[:min(len(j.Window), 16)]
	var b strings.Builder
	fmt.Fprintf(&b, "thread %d: window of %d calls scored %.2f, starting", j.PID, len(j.Window), j.Score)
	for _, nr := range head {
		fmt.Fprintf(&b, " %d", nr)
	}
	return b.String()
}
