package policy

import (
	"net/netip"
	"slices"
)

// reachRules are the rules of one action for one destination that could
// decide for some caller, keyed as the decision index keys them by caller.
type reachRules struct {
	need tri // what a rule must say of a caller's requests: matchSome (ALLOW) or matchAll (DENY)
	by   [dimNamespace + 1]map[string][]*Rule
	rest []*Rule
}

// build keeps, in declaration order, the rules whose caller-independent
// part (operations, destination and request conditions) says at least need.
func (rr *reachRules) build(rules []*Rule, addrs []netip.AddrPort, need tri) {
	rr.need = need
	for _, r := range rules {
		if r.reachTo(addrs) < need {
			continue
		}
		if d, keys, ok := r.indexKeys(); ok && d <= dimNamespace {
			if rr.by[d] == nil {
				rr.by[d] = map[string][]*Rule{}
			}
			for _, k := range keys {
				if l := rr.by[d][k]; len(l) == 0 || l[len(l)-1] != r {
					rr.by[d][k] = append(l, r)
				}
			}
			continue
		}
		rr.rest = append(rr.rest, r)
		if r.callerFree() {
			break // it decides for every caller: no later rule ever comes first
		}
	}
}

// first is the first rule in declaration order that says need of the
// source's requests.
func (rr *reachRules) first(src *reachSource) *Rule {
	var buf [dimNamespace + 2][]*Rule
	lists := buf[:0]
	for d := dimPrincipal; d <= dimNamespace; d++ {
		if rr.by[d] == nil {
			continue
		}
		if l := rr.by[d][src.key(d)]; len(l) > 0 {
			lists = append(lists, l)
		}
	}
	if len(rr.rest) > 0 {
		lists = append(lists, rr.rest)
	}
	for {
		r, _ := nextInOrder(lists)
		if r == nil || r.reachFrom(src) >= rr.need {
			return r
		}
	}
}

// rules lists the index's rules once each, in declaration order.
func (ix *ruleIndex) rules() []*Rule {
	out := slices.Clone(ix.rest)
	for _, m := range ix.by {
		for _, e := range m {
			out = append(out, e.rules...)
		}
	}
	slices.SortFunc(out, func(a, b *Rule) int { return a.order - b.order })
	return slices.Compact(out)
}

// reachSource is a caller as rules see it before any request. From keeps
// it on its stack: an answer allocates nothing but, for rules on service
// accounts, the caller's <namespace>/<sa>.
type reachSource struct {
	f        facts
	acct     string
	acctDone bool
	addrs    []netip.Addr // at least one; an invalid one is unknown
}

// anyAddr is a caller address not known: read only.
var anyAddr = []netip.Addr{{}}

func (src *reachSource) init(p *Peer) {
	src.f.setPrincipal(p.Principal)
	src.addrs = p.Addresses
	if len(src.addrs) == 0 {
		src.addrs = anyAddr
	}
}

func (src *reachSource) account() string {
	if !src.acctDone {
		src.acct, src.acctDone = src.f.account(), true
	}
	return src.acct
}

func (src *reachSource) key(d dim) string {
	switch d {
	case dimPrincipal:
		return src.f.principal
	case dimAccount:
		return src.account()
	}
	return src.f.namespace
}
