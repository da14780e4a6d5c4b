package server

import (
	"context"
	"slices"
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

// opened wakes waitOn at the first request of a type on a stream (no
// nonce yet): the node may just have come back on a new address.
func (a *acks) opened(nonce string) {
	if nonce != "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.wake()
}
