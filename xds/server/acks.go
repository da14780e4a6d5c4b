package server

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
)

// acks follows every ADS stream: which node it is, what it subscribed to,
// which versions it was sent and which it acknowledged. A move waits on it
// until every stream that uses the moving service has the new endpoints.
type acks struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every acknowledgement or close
	streams map[int64]*stream
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
	return &acks{changed: make(chan struct{}), streams: map[int64]*stream{}}
}

// open adds a stream unless its identity already holds max streams
// (streams without an identity are not bounded: there is no one to count
// them against, and without mutual TLS anyone can connect anyway).
func (a *acks) open(id int64, g *guard, max int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if g.id != "" {
		n := 0
		for _, s := range a.streams {
			if s.guard.id == g.id {
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

// guardOf is the stream's guard, nil for a stream not admitted.
func (a *acks) guardOf(id int64) *guard {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := a.streams[id]; s != nil {
		return s.guard
	}
	return nil
}

func (a *acks) close(id int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.streams, id)
	a.wake()
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
	s := a.streams[id]
	if s == nil {
		return false
	}
	if n := req.GetNode().GetId(); n != "" {
		s.node = n
	}
	typ := req.GetTypeUrl()
	names := map[string]bool{}
	for _, n := range req.GetResourceNames() {
		names[n] = true
	}
	s.names[typ] = names
	version, known := s.sent[req.GetResponseNonce()]
	if !known {
		return false
	}
	if req.GetErrorDetail() != nil {
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
func (a *acks) response(id int64, resp *discoveryv3.DiscoveryResponse) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.streams[id]
	if s == nil {
		return
	}
	if len(s.sent) >= maxNonces {
		clear(s.sent) // older nonces are never acknowledged any more
	}
	s.sent[resp.GetNonce()] = resp.GetVersionInfo()
}

// pending lists the nodes of the streams that subscribe to name (of type
// typ) and have not acknowledged version v yet; the caller holds a.mu.
func (a *acks) pending(typ, name string, v uint64) []string {
	var out []string
	for _, s := range a.streams {
		if s.names[typ][name] && s.acked[typ] < v {
			out = append(out, s.node)
		}
	}
	slices.Sort(out)
	return out
}

// watchers counts the streams that subscribe to name.
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

// wait blocks until every stream subscribed to name has acknowledged
// version v, or until the deadline; it returns the nodes still behind.
func (a *acks) wait(ctx context.Context, typ, name string, v uint64, deadline time.Time) []string {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for {
		a.mu.Lock()
		behind, changed := a.pending(typ, name, v), a.changed
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
