// Package reach is the xDS server's need-to-know rule from the
// authorizer's own policies: a node is told of a service only if some
// request from it to the service could be allowed (extauthz/policy's
// Reachable: exact for the caller's identity and the destination's ports,
// generous for request attributes). One policy language, not two.
package reach

import (
	"net/netip"
	"sync/atomic"

	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/xds/catalog"
)

// Policies answers from the policy set it holds; Set swaps it (on a policy
// change the server then tells every node what changed for it).
type Policies struct {
	set atomic.Pointer[policy.Set]
}

// New holds set.
func New(set *policy.Set) *Policies {
	p := &Policies{}
	p.set.Store(set)
	return p
}

// Set replaces the policy set.
func (p *Policies) Set(set *policy.Set) { p.set.Store(set) }

// Reachable says whether caller may call s at all.
func (p *Policies) Reachable(caller string, s catalog.Service) bool {
	return p.Explain(caller, s).Reachable
}

// Explain is the answer with its reason (the deciding rule), for operators.
func (p *Policies) Explain(caller string, s catalog.Service) policy.Reach {
	return p.set.Load().Reachable(policy.Peer{Principal: caller}, Workload(s))
}

// Workload is how the authorizer sees a catalog service: its identity,
// namespace, labels, name, and every address:port its requests may arrive
// at (a port range is too wide to list: its ports count as unknown).
func Workload(s catalog.Service) policy.Workload {
	w := policy.Workload{ID: s.Identity, Namespace: s.Namespace, Labels: s.Labels, Service: s.Name}
	addrs := map[netip.Addr]bool{}
	for _, e := range s.Endpoints {
		if a, err := netip.ParseAddr(e.Address); err == nil {
			addrs[a.Unmap()] = true
		}
	}
	for _, a := range s.Addresses {
		if ip, err := netip.ParseAddr(a); err == nil {
			addrs[ip.Unmap()] = true
		}
	}
	ports := map[uint32]bool{s.Port: true}
	for _, e := range s.Endpoints {
		ports[e.Port] = true
	}
	for _, p := range s.Ports {
		ports[p] = true
	}
	if s.PortRange != nil {
		ports = map[uint32]bool{0: true}
	}
	for a := range addrs {
		for p := range ports {
			w.Addresses = append(w.Addresses, netip.AddrPortFrom(a, uint16(p)))
		}
	}
	return w
}
