package server

import (
	"context"
	"slices"
	"strconv"
	"time"
)

// nodesOn are the nodes with a stream on listener gen.
func (a *acks) nodesOn(gen uint64) map[string]bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]bool{}
	for _, s := range a.streams {
		if s.node != "" && s.guard.gen == gen {
			out[s.node] = true
		}
	}
	return out
}

// nodesByGen counts the nodes on each listener.
func (a *acks) nodesByGen() map[uint64]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	seen := map[uint64]map[string]bool{}
	for _, s := range a.streams {
		if s.node == "" {
			continue
		}
		if seen[s.guard.gen] == nil {
			seen[s.guard.gen] = map[string]bool{}
		}
		seen[s.guard.gen][s.node] = true
	}
	out := map[uint64]int{}
	for g, ns := range seen {
		out[g] = len(ns)
	}
	return out
}

// subscribed are the nodes among nodes with a stream subscribed to name.
func (a *acks) subscribed(nodes map[string]bool, typ, name string) map[string]bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]bool{}
	for _, s := range a.streams {
		if nodes[s.node] && s.names[typ][name] {
			out[s.node] = true
		}
	}
	return out
}

// missingOn lists the nodes with no stream on listener gen; the caller
// holds a.mu.
func (a *acks) missingOn(gen uint64, nodes map[string]bool) []string {
	on := map[string]bool{}
	for _, s := range a.streams {
		if s.guard.gen == gen {
			on[s.node] = true
		}
	}
	var out []string
	for n := range nodes {
		if !on[n] {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// waitOn blocks until every node has a stream on listener gen, or the
// deadline; it returns the nodes still missing.
func (a *acks) waitOn(ctx context.Context, gen uint64, nodes map[string]bool, deadline time.Time) []string {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for {
		a.mu.Lock()
		missing, changed := a.missingOn(gen, nodes), a.changed
		a.mu.Unlock()
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-t.C:
			return missing
		case <-ctx.Done():
			return missing
		}
	}
}

// resume takes the first request of a type on a stream, which names the
// version the client holds (Envoy sends it again on every new stream): for
// a node whose versions went on across its reconnect (continuous), holding
// exactly what it was given counts as its acknowledgement, since the
// server does not send a version again to a client that has it. A client
// that claims a version it lacks only keeps its own configuration stale.
// It also wakes waitOn: the node may just have come back.
func (a *acks) resume(id int64, typ, version, nonce string, continuous bool) {
	if nonce != "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.streams[id]
	if s == nil {
		return
	}
	if v, err := strconv.ParseUint(version, 10, 64); continuous && err == nil && v == a.targets[s.node][typ] && v > s.acked[typ] {
		s.acked[typ] = v
	}
	a.wake()
}
