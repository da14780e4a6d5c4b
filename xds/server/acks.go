package server

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
)

// acks follows every ADS stream: which node it is, what it subscribed to,
// which versions it was sent and which it acknowledged. A move waits on it
// until every stream that uses the moving service has the new endpoints.
type acks struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every acknowledgement or close
	streams map[int64]*stream
	// targets are the versions each node was last given, by type: what a
	// move waits for it to acknowledge.
	targets map[string]map[string]uint64
	// given are the names of the resources each node was last given, by
	// type: a stream is waited for only on what its node was told, never
	// on what it merely subscribed to (anyone may name anything).
	given map[string]map[string]map[string]bool
	// frozen says whether an identity is quarantined: its nodes are told
	// nothing new on purpose, so no move waits for them (nil: none is).
	frozen func(identity string) bool
	// budgets are the request rates of identities (guard.shared); one is
	// dropped when its identity's last stream closes with its bucket full,
	// as a new one would start.
	budgets map[string]*rate.Limiter
}

type stream struct {
	guard *guard
	node  string
	names map[string]map[string]bool // type URL -> resource names subscribed
	sent  map[string]string          // nonce -> version, of the last responses
	acked map[string]uint64          // type URL -> last version acknowledged
	nacks int
}

// maxNonces bounds what a stream remembers of its responses: a client
// acknowledges the last ones, never one from long ago.
const maxNonces = 16

func newAcks() *acks {
	return &acks{changed: make(chan struct{}), streams: map[int64]*stream{}, targets: map[string]map[string]uint64{},
		given: map[string]map[string]map[string]bool{}, budgets: map[string]*rate.Limiter{}}
}

// open adds a stream unless its identity already holds max streams on its
// listener (streams without an identity are not bounded: there is no one to
// count them against, and without mutual TLS anyone can connect anyway).
// While the ADS port moves, a node holds streams on both addresses for a
// moment: counting them together would lock it out of the new one.
func (a *acks) open(id int64, g *guard, max int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if g.id != "" {
		n := 0
		for _, s := range a.streams {
			if s.guard.id == g.id && s.guard.gen == g.gen {
				n++
			}
		}
		if n >= max {
			return false
		}
	}
	a.streams[id] = &stream{guard: g, names: map[string]map[string]bool{}, sent: map[string]string{}, acked: map[string]uint64{}}
	return true
}

// claim notes that stream id serves node.
func (a *acks) claim(id int64, node string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.noted(id, node)
}

// live says whether a stream serves node.
func (a *acks) live(node string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.streams {
		if s.node == node {
			return true
		}
	}
	return false
}

// budget is identity's request rate, shared by its streams.
func (a *acks) budget(identity string, r rate.Limit, burst int) *rate.Limiter {
	a.mu.Lock()
	defer a.mu.Unlock()
	l := a.budgets[identity]
	if l == nil {
		l = rate.NewLimiter(r, burst)
		a.budgets[identity] = l
	}
	return l
}

// guardOf is the stream's guard, nil for a stream not admitted.
func (a *acks) guardOf(id int64) *guard {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := a.streams[id]; s != nil {
		return s.guard
	}
	return nil
}

// close forgets a stream; last says no other stream is its node's.
func (a *acks) close(id int64) (node string, last bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.streams[id]
	delete(a.streams, id)
	a.wake()
	if s != nil {
		a.release(s.guard)
	}
	if s == nil || s.node == "" {
		return "", false
	}
	for _, o := range a.streams {
		if o.node == s.node {
			return s.node, false
		}
	}
	return s.node, true
}

// release drops the identity's budget once its last stream closed with it
// full; the caller holds a.mu.
func (a *acks) release(g *guard) {
	if g.shared == nil || g.shared.Tokens() < float64(g.shared.Burst()) {
		return
	}
	for _, o := range a.streams {
		if o.guard.id == g.id {
			return
		}
	}
	delete(a.budgets, g.id)
}

// wake tells waiters something changed; the caller holds a.mu.
func (a *acks) wake() {
	close(a.changed)
	a.changed = make(chan struct{})
}

// request records what a client asked for and whether it acknowledged a
// response (true) or refused one (a NACK: the error is in the request).
func (a *acks) request(id int64, req *discoveryv3.DiscoveryRequest) (nack bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.noted(id, req.GetNode().GetId())
	if s == nil {
		return false
	}
	typ := req.GetTypeUrl()
	names := map[string]bool{}
	for _, n := range req.GetResourceNames() {
		names[n] = true
	}
	s.names[typ] = names
	return a.acknowledged(s, typ, req.GetResponseNonce(), req.GetErrorDetail() != nil)
}

// noted is stream id with the node its request named (a request may leave
// the node out after the first); the caller holds a.mu.
func (a *acks) noted(id int64, node string) *stream {
	s := a.streams[id]
	if s != nil && node != "" {
		s.node = node
	}
	return s
}

// fits says whether stream id stays within max subscribed resources of
// typ after a request that adds and removes these (state of the world
// replaces them all: add holds every name then).
func (a *acks) fits(id int64, typ string, add, remove []string, max int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.streams[id]
	if s == nil || len(add) == 0 {
		return true
	}
	have := s.names[typ]
	n, seen := len(have), map[string]bool{}
	for _, name := range add {
		if !have[name] && !seen[name] {
			seen[name] = true
			n++
		}
	}
	for _, name := range remove {
		if have[name] {
			n--
		}
	}
	return n <= max
}

// deltaRequest is request for incremental (delta) ADS: subscriptions
// change by what the client adds and removes.
func (a *acks) deltaRequest(id int64, req *discoveryv3.DeltaDiscoveryRequest) (nack bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.noted(id, req.GetNode().GetId())
	if s == nil {
		return false
	}
	typ := req.GetTypeUrl()
	if s.names[typ] == nil {
		s.names[typ] = map[string]bool{}
	}
	for _, n := range req.GetResourceNamesSubscribe() {
		s.names[typ][n] = true
	}
	for _, n := range req.GetResourceNamesUnsubscribe() {
		delete(s.names[typ], n)
	}
	return a.acknowledged(s, typ, req.GetResponseNonce(), req.GetErrorDetail() != nil)
}

// acknowledged records the client's word on the response with nonce;
// the caller holds a.mu.
func (a *acks) acknowledged(s *stream, typ, nonce string, refused bool) (nack bool) {
	version, known := s.sent[nonce]
	if !known {
		return false
	}
	if refused {
		s.nacks++
		return true
	}
	if v, err := strconv.ParseUint(version, 10, 64); err == nil && v > s.acked[typ] {
		s.acked[typ] = v
		a.wake()
	}
	return false
}

// response records a response sent on a stream.
func (a *acks) response(id int64, nonce, version string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.streams[id]
	if s == nil {
		return
	}
	if len(s.sent) >= maxNonces {
		clear(s.sent) // older nonces are never acknowledged any more
	}
	s.sent[nonce] = version
}

// target records that node was given version v of typ, which holds the
// resources named (the map is not changed afterwards).
func (a *acks) target(node, typ string, v uint64, names map[string]bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.targets[node] == nil {
		a.targets[node] = map[string]uint64{}
		a.given[node] = map[string]map[string]bool{}
	}
	a.targets[node][typ] = v
	a.given[node][typ] = names
}

// forget drops what a node was given.
func (a *acks) forget(node string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.targets, node)
	delete(a.given, node)
}

// waitSet picks the streams a step waits for: the type whose
// acknowledgement counts, and which streams take part.
type waitSet struct {
	typ   string
	names []string        // streams subscribed to any of these resources, or
	nodes map[string]bool // streams of these nodes
}

// waits says whether w waits for stream s: a node waited for by name, or
// a stream subscribed to one of w's resources that its node was given and
// is not frozen; the caller holds a.mu.
func (a *acks) waits(w waitSet, s *stream) bool {
	if w.nodes[s.node] {
		return true
	}
	if a.frozen != nil && a.frozen(s.guard.id) {
		return false
	}
	given := a.given[s.node][w.typ]
	for _, n := range w.names {
		if s.names[w.typ][n] && given[n] {
			return true
		}
	}
	return false
}

// pending lists the nodes of the streams in w that have not acknowledged
// what their node was last given; the caller holds a.mu.
func (a *acks) pending(w waitSet) []string {
	var out []string
	live := map[string]bool{}
	for _, s := range a.streams {
		live[s.node] = true
		if a.waits(w, s) && s.acked[w.typ] < a.targets[s.node][w.typ] {
			out = append(out, s.node)
		}
	}
	// A node waited for by name whose stream broke has acknowledged
	// nothing: a sidecar that went away did not open the new socket.
	for n := range w.nodes {
		if !live[n] {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// watchers counts the streams subscribed to name.
func (a *acks) watchers(typ, name string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, s := range a.streams {
		if s.names[typ][name] {
			n++
		}
	}
	return n
}

// wait blocks until every stream in w has acknowledged what its node was
// given, or until the deadline; it returns the nodes still behind.
func (a *acks) wait(ctx context.Context, w waitSet, deadline time.Time) []string {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for {
		a.mu.Lock()
		behind, changed := a.pending(w), a.changed
		a.mu.Unlock()
		if len(behind) == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-t.C:
			return behind
		case <-ctx.Done():
			return behind
		}
	}
}

// connected counts the open streams and distinct nodes.
func (a *acks) connected() (streams, nodes int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	seen := map[string]bool{}
	for _, s := range a.streams {
		seen[s.node] = true
	}
	return len(a.streams), len(seen)
}
