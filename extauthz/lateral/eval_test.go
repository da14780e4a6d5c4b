package lateral

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// mix is a generated stream of decisions: legitimate services calling their
// dependencies (some of them gateways that fan out, some gaining a dependency
// after a deploy), and compromised services that start scanning, fast or slow.
type mix struct {
	events   []Event
	scanners map[string]time.Time // compromised source -> when the scan starts
	sources  []string
}

const (
	learnFor = 10 * time.Minute
	runFor   = 25 * time.Minute
)

func generate(seed uint64) mix {
	rng := rand.New(rand.NewPCG(seed, 99))
	services := make([]string, 80)
	for i := range services {
		services[i] = fmt.Sprintf("cluster.local/ns/shop/sa/svc-%d", i)
	}
	m := mix{scanners: map[string]time.Time{}}
	add := func(src, dst string, port uint32, at time.Duration) {
		m.events = append(m.events, Event{Source: src, Destination: dst, Port: port, Time: t0.Add(at)})
	}
	for i := 0; i < 300; i++ {
		src := fmt.Sprintf("cluster.local/ns/shop/sa/client-%d", i)
		m.sources = append(m.sources, src)
		deps := 1 + rng.IntN(5)
		if i%30 == 0 {
			deps = 12 + rng.IntN(10) // a gateway or a scraper
		}
		var dsts []int
		for j := 0; j < deps; j++ {
			dsts = append(dsts, rng.IntN(len(services)))
		}
		if i%10 == 3 { // a deploy after learning adds a dependency
			dsts = append(dsts, -1-rng.IntN(len(services)))
		}
		if i%50 == 11 { // a bigger release adds five at once
			for k := 0; k < 5; k++ {
				dsts = append(dsts, -1-rng.IntN(len(services)))
			}
		}
		for _, d := range dsts {
			start := time.Duration(0)
			if d < 0 {
				d, start = -1-d, learnFor+time.Duration(rng.IntN(int(runFor-learnFor)))
			}
			for at := start + time.Duration(rng.IntN(3000))*time.Millisecond; at < runFor; at += time.Duration(500+rng.IntN(4000)) * time.Millisecond {
				add(src, services[d], 8080, at)
			}
		}
		if i%15 == 7 { // compromised after learning: it scans, fast or slowly
			begin := learnFor + time.Duration(rng.IntN(int(runFor-learnFor-10*time.Minute)))
			m.scanners[src] = t0.Add(begin)
			// Fast, moderate, slow, and low-and-slow (a few targets, far apart).
			kind := rng.IntN(4)
			step := []time.Duration{100 * time.Millisecond, 2 * time.Second, 15 * time.Second, 25 * time.Second}[kind]
			probes := []int{40, 40, 40, 6}[kind]
			for k, at := 0, begin; k < probes; k, at = k+1, at+step {
				add(src, services[rng.IntN(len(services))], uint32([]int{22, 80, 443, 3306, 5432, 6379, 8080}[rng.IntN(7)]), at)
			}
		}
	}
	sort.SliceStable(m.events, func(i, j int) bool { return m.events[i].Time.Before(m.events[j].Time) })
	return m
}

// Precision and recall of the detector, per source, on the generated mix:
// a scanner counts as found if an alert names it after its scan began.
func TestPrecisionRecall(t *testing.T) {
	var tp, fp, fn, tn int
	var delays []time.Duration
	for seed := uint64(1); seed <= 2; seed++ {
		m := generate(seed)
		d := New(DefaultConfig)
		flagged := map[string]time.Time{}
		for _, e := range m.events {
			if d.Learning() && e.Time.Sub(t0) >= learnFor {
				d.StopLearning()
			}
			for _, a := range d.Observe(e) {
				if _, ok := flagged[a.Source]; !ok {
					flagged[a.Source] = e.Time
				}
			}
		}
		for _, src := range m.sources {
			begin, scanner := m.scanners[src]
			at, hit := flagged[src]
			switch {
			case scanner && hit && !at.Before(begin):
				tp++
				delays = append(delays, at.Sub(begin))
			case scanner:
				fn++
			case hit:
				fp++
			default:
				tn++
			}
		}
	}
	precision := float64(tp) / float64(tp+fp)
	recall := float64(tp) / float64(tp+fn)
	sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
	t.Logf("lateral movement on 2 generated mixes (600 sources, %d scanners): precision %.3f, recall %.3f (tp %d, fp %d, fn %d, tn %d); detection delay median %v, max %v",
		tp+fn, precision, recall, tp, fp, fn, tn, delays[len(delays)/2], delays[len(delays)-1])
	// The floor is below what the detector reaches: low-and-slow scans and big
	// releases are in the mix on purpose.
	// Measured: precision 0.756 (the false alarms are the big releases),
	// recall 0.850 (the misses are low-and-slow scans).
	if precision < 0.7 || recall < 0.8 {
		t.Fatalf("precision %.3f, recall %.3f: want at least 0.7 and 0.8", precision, recall)
	}
}
