package bench

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// Result is what a load got: the latencies of the operations that
// succeeded, the failures by class, and how long it ran.
type Result struct {
	Lat      []time.Duration
	Failures map[string]int
	Elapsed  time.Duration
	// FirstError is the text of the first failure classified "error" (no
	// coordinator answer explains it), for the log.
	FirstError string `json:",omitempty"`
}

// Add merges o into r (rounds of one configuration).
func (r *Result) Add(o Result) {
	r.Lat = append(r.Lat, o.Lat...)
	if r.Failures == nil {
		r.Failures = map[string]int{}
	}
	for k, v := range o.Failures {
		r.Failures[k] += v
	}
	r.Elapsed += o.Elapsed
	if r.FirstError == "" {
		r.FirstError = o.FirstError
	}
}

// AddParallel merges o, which ran at the same time as r: the elapsed time
// is the longer of the two.
func (r *Result) AddParallel(o Result) {
	e := max(r.Elapsed, o.Elapsed)
	r.Add(o)
	r.Elapsed = e
}

// OK counts successful operations.
func (r Result) OK() int { return len(r.Lat) }

// Failed counts failed ones.
func (r Result) Failed() int {
	n := 0
	for _, v := range r.Failures {
		n += v
	}
	return n
}

// SuccessRate is OK over every operation (1 for none).
func (r Result) SuccessRate() float64 {
	n := r.OK() + r.Failed()
	if n == 0 {
		return 1
	}
	return float64(r.OK()) / float64(n)
}

// Throughput is successful operations per second.
func (r Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK()) / r.Elapsed.Seconds()
}

// Mean latency of the successful operations.
func (r Result) Mean() time.Duration {
	if len(r.Lat) == 0 {
		return 0
	}
	var sum time.Duration
	for _, l := range r.Lat {
		sum += l
	}
	return sum / time.Duration(len(r.Lat))
}

// Quantile q (0..1) of the successful operations' latencies, nearest rank.
func (r Result) Quantile(q float64) time.Duration {
	if len(r.Lat) == 0 {
		return 0
	}
	s := slices.Clone(r.Lat)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// FailureSummary lists failures as "class n, class n", or "none".
func (r Result) FailureSummary() string {
	if r.Failed() == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(r.Failures)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, r.Failures[k]))
	}
	return strings.Join(parts, ", ")
}

// median of non-empty xs.
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ms prints a duration in milliseconds with three digits after the point.
func ms(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond)) }
