// Package lateral detects lateral movement in the stream of decisions: a
// source that reaches more distinct destinations or ports within a window
// than a workload does, or that takes edges never seen while learning. It
// knows nothing of transports; the authorizer feeds it and acts on alerts.
package lateral

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// Event is one decided hop.
type Event struct {
	Source      string // principal
	Destination string
	Port        uint32
	Time        time.Time
}

// Config says what counts as lateral movement.
type Config struct {
	Window          time.Duration // sliding window of the fan-out counts
	MaxDestinations int           // distinct destinations per source per window
	MaxPorts        int           // distinct (destination, port) pairs per source per window
	MaxNewEdges     int           // edges unseen while learning, per source per window
	MaxSources      int           // bound on tracked sources
}

// DefaultConfig suits services that call a handful of dependencies.
var DefaultConfig = Config{Window: time.Minute, MaxDestinations: 10, MaxPorts: 20, MaxNewEdges: 3, MaxSources: 100_000}

// Alert is a suspected lateral movement.
type Alert struct {
	Source string
	Kind   string // "fan-out-destinations", "fan-out-ports", "new-edges"
	Count  int
	Detail string
}

// Detector keeps per-source windows and the learned edges.
type Detector struct {
	cfg      Config
	mu       sync.Mutex
	sources  map[string]*window
	learning bool
	edges    map[edge]bool
	peak     map[string][2]int // per source, the most destinations and ports seen in a window while learning
}

type edge struct {
	src, dst string
}

type seen struct {
	key string
	at  time.Time
}

// window holds when each distinct thing was last seen, in arrival order, and
// how many distinct things of each kind it holds.
type window struct {
	last    map[string]time.Time
	order   []seen
	counts  [3]int          // destinations, ports, new edges
	flagged map[string]bool // alert kinds already raised in this window
	ports   map[string]int  // per destination, its distinct ports in the window
}

// portsPerDestination caps what one destination adds to a source's port
// count. Ports are reported by the destination's own sidecar (the only one
// the authorizer believes about that destination), so without a cap one
// compromised workload could claim a source scanned thirty of its ports and
// get the source quarantined. A sidecar intercepts a handful of ports; a real
// scan shows across many destinations.
const portsPerDestination = 4

const (
	kindDest = iota
	kindPort
	kindNew
)

func kindOf(key string) int {
	switch key[0] {
	case 'd':
		return kindDest
	case 'p':
		return kindPort
	}
	return kindNew
}

// New returns a detector that starts learning: edges it sees are normal
// until StopLearning.
func New(cfg Config) *Detector {
	return &Detector{cfg: cfg, sources: map[string]*window{}, learning: true, edges: map[edge]bool{}, peak: map[string][2]int{}}
}

// StopLearning freezes the set of normal edges.
func (d *Detector) StopLearning() {
	d.mu.Lock()
	d.learning = false
	d.mu.Unlock()
}

// Learning says whether edges are still being learned.
func (d *Detector) Learning() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.learning
}

// Edges returns the learned edges (source -> destinations).
func (d *Detector) Edges() map[string][]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string][]string{}
	for e := range d.edges {
		out[e.src] = append(out[e.src], e.dst)
	}
	return out
}

// Observe adds an event and returns the alerts it raises (each kind at most
// once per source per window).
func (d *Detector) Observe(e Event) []Alert {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := d.windowOf(e.Source)
	w.expire(e.Time.Add(-d.cfg.Window))
	d.add(w, "d\x00"+e.Destination, e.Time)
	pk := fmt.Sprintf("p\x00%s\x00%d", e.Destination, e.Port)
	if _, known := w.last[pk]; known || w.ports[e.Destination] < portsPerDestination {
		if d.add(w, pk, e.Time) {
			w.ports[e.Destination]++
		}
	}
	ed := edge{e.Source, e.Destination}
	if d.learning {
		d.edges[ed] = true
	} else if !d.edges[ed] {
		d.add(w, "n\x00"+e.Destination, e.Time)
	}
	return d.judge(e.Source, w)
}

func (d *Detector) windowOf(src string) *window {
	w, ok := d.sources[src]
	if !ok {
		if len(d.sources) >= d.cfg.MaxSources {
			clear(d.sources) // bounded memory; windows refill within one window
		}
		w = &window{last: map[string]time.Time{}, flagged: map[string]bool{}, ports: map[string]int{}}
		d.sources[src] = w
	}
	return w
}

// add notes key at time at, and says whether the key is new to the window. A key seen again within an eighth of the window
// is not re-queued, so a busy edge costs no memory (its expiry may come up to
// that much early); past a bound per source, new keys only count as
// saturated, so a scan of a million ports costs bounded memory.
func (d *Detector) add(w *window, key string, at time.Time) (inserted bool) {
	prev, ok := w.last[key]
	if ok && at.Sub(prev) < d.cfg.Window/8 {
		return false
	}
	if !ok {
		limit := 4 * max(d.cfg.MaxDestinations, d.cfg.MaxPorts, d.cfg.MaxNewEdges, 1)
		if w.counts[kindOf(key)] >= limit {
			return false
		}
		w.counts[kindOf(key)]++
	}
	w.last[key] = at
	w.order = append(w.order, seen{key, at})
	return !ok
}

// expire forgets what was last seen before cutoff.
func (w *window) expire(cutoff time.Time) {
	i := 0
	for ; i < len(w.order) && w.order[i].at.Before(cutoff); i++ {
		s := w.order[i]
		if t, ok := w.last[s.key]; ok && !t.After(s.at) {
			delete(w.last, s.key)
			w.counts[kindOf(s.key)]--
			w.forgetPort(s.key)
		}
	}
	w.order = w.order[i:]
	if len(w.last) == 0 {
		clear(w.flagged) // a quiet window ends the alert
	}
}

// judge raises alerts past the limits. A source that fans out while
// learning (a gateway, a scraper) gets limits above its own peak, so its
// normal behaviour is no alert.
func (d *Detector) judge(src string, w *window) []Alert {
	dests, ports, news := w.counts[kindDest], w.counts[kindPort], w.counts[kindNew]
	pk := d.peak[src]
	if d.learning {
		if len(d.peak) < d.cfg.MaxSources {
			d.peak[src] = [2]int{max(pk[0], dests), max(pk[1], ports)}
		}
		return nil
	}
	var out []Alert
	raise := func(kind string, n, limit int) {
		if n > limit && !w.flagged[kind] {
			w.flagged[kind] = true
			out = append(out, Alert{Source: src, Kind: kind, Count: n,
				Detail: fmt.Sprintf("%d within %v, more than %d", n, d.cfg.Window, limit)})
		}
	}
	raise("fan-out-destinations", dests, max(d.cfg.MaxDestinations, pk[0]*3/2+1))
	raise("fan-out-ports", ports, max(d.cfg.MaxPorts, pk[1]*3/2+1))
	raise("new-edges", news, d.cfg.MaxNewEdges)
	return out
}

// forgetPort keeps the per-destination port counts in step with expiry.
func (w *window) forgetPort(key string) {
	if kindOf(key) != kindPort {
		return
	}
	dst := key[2:strings.LastIndexByte(key, 0)]
	if w.ports[dst]--; w.ports[dst] <= 0 {
		delete(w.ports, dst)
	}
}
