package policy

import "net/netip"

// tri is what a clause says of the requests between one caller and one
// destination: it matches none of them (matchNone), some (matchSome) or
// every one (matchAll).
type tri uint8

const (
	matchNone tri = iota
	matchSome
	matchAll
)

// join is what a clause says over several cases (caller addresses,
// destination ports) when it said a of the first ones and b of the next.
func join(a, b tri) tri {
	if a == b {
		return a
	}
	return matchSome
}

// reachFrom judges the rule's caller part: its sources and its conditions
// on the source, at each of the caller's addresses.
func (r *Rule) reachFrom(src *reachSource) tri {
	t := r.fromAt(src, src.addrs[0])
	for _, a := range src.addrs[1:] {
		if t = join(t, r.fromAt(src, a)); t == matchSome {
			break // no later address changes it
		}
	}
	return t
}

func (r *Rule) fromAt(src *reachSource, a netip.Addr) tri {
	t := matchAll
	if len(r.from) > 0 {
		t = matchNone
		for _, s := range r.from {
			if t = max(t, s.reach(src, a)); t == matchAll {
				break
			}
		}
	}
	for _, c := range r.when {
		if c.onCaller() {
			t = min(t, c.reachCaller(src, a))
		}
	}
	return t
}

// reachTo judges the rule's other part, the same for every caller: its
// operations and its conditions on the destination and the request, at each
// address the destination is reached at.
func (r *Rule) reachTo(addrs []netip.AddrPort) tri {
	t := r.toAt(addrs[0])
	if !r.onDestination() {
		return t // the same at every address: a pool may hold thousands
	}
	for _, a := range addrs[1:] {
		if t = join(t, r.toAt(a)); t == matchSome {
			break
		}
	}
	return t
}

// onDestination: the rule looks at the destination's address or port.
func (r *Rule) onDestination() bool {
	for _, o := range r.to {
		if o.ports.set {
			return true
		}
	}
	for _, c := range r.when {
		if c.key == keyDestinationIP || c.key == keyDestinationPort {
			return true
		}
	}
	return false
}

func (r *Rule) toAt(d netip.AddrPort) tri {
	t := matchAll
	if len(r.to) > 0 {
		t = matchNone
		for _, o := range r.to {
			if t = max(t, o.reach(d)); t == matchAll {
				break
			}
		}
	}
	for _, c := range r.when {
		if !c.onCaller() {
			t = min(t, c.reachTo(d))
		}
	}
	return t
}

// callerFree: nothing of the rule depends on who calls.
func (r *Rule) callerFree() bool {
	if len(r.from) > 0 {
		return false
	}
	for _, c := range r.when {
		if c.onCaller() {
			return false
		}
	}
	return true
}

// reach: the caller's identity is known exactly, its address when given; a
// JWT and a forwarded remote address are the request's, so could be any.
func (s *source) reach(src *reachSource, a netip.Addr) tri {
	f := &src.f
	if !s.principals.matches(f.principal) || !s.namespaces.matches(f.namespace) ||
		(s.accounts.set && !s.accounts.matches(src.account())) || !s.trustDomains.matches(f.trustDomain) {
		return matchNone
	}
	t := matchAll
	if s.ips.set {
		t = min(t, ipAt(&s.ips, a))
	}
	if s.remoteIPs.set {
		t = min(t, s.remoteIPs.satisfiable())
	}
	if s.requestPrincipals.set {
		t = min(t, matchSome)
	}
	return t
}

// reach: methods, paths and hosts are the request's; the port is known
// when the destination's is.
func (o *operation) reach(d netip.AddrPort) tri {
	t := matchAll
	for _, f := range [...]*strField{&o.methods, &o.paths, &o.hosts} {
		if f.set {
			t = min(t, f.satisfiable())
		}
	}
	if o.ports.set {
		t = min(t, portAt(&o.ports, d.Port()))
	}
	return t
}

// onCaller: the condition looks at who calls (or from where).
func (c *condition) onCaller() bool {
	switch c.key {
	case keySourceIP, keySourceNamespace, keySourcePrincipal, keySourceAccount, keyTrustDomain:
		return true
	}
	return false
}

func (c *condition) reachCaller(src *reachSource, a netip.Addr) tri {
	switch c.key {
	case keySourceIP:
		return ipAt(&c.ip, a)
	case keySourceAccount:
		return exactly(c.str.matches(src.account()))
	case keySourceNamespace:
		return exactly(c.str.matches(src.f.namespace))
	case keySourcePrincipal:
		return exactly(c.str.matches(src.f.principal))
	case keyTrustDomain:
		return exactly(c.str.matches(src.f.trustDomain))
	}
	return matchSome // not a caller key: onCaller and this switch disagree, so assume nothing
}

func (c *condition) reachTo(d netip.AddrPort) tri {
	switch c.key {
	case keyDestinationIP:
		return ipAt(&c.ip, d.Addr())
	case keyDestinationPort:
		return portAt(&c.port, d.Port())
	case keyRemoteIP:
		return c.ip.satisfiable()
	case keyRequestPrincipal:
		return matchSome
	}
	return c.str.satisfiable() // headers, :authority, :method, :path, SNI
}

func exactly(ok bool) tri {
	if ok {
		return matchAll
	}
	return matchNone
}

// ipAt judges an address field at a known address, or at any if a is not.
func ipAt(f *ipField, a netip.Addr) tri {
	if !a.IsValid() {
		return f.satisfiable()
	}
	return exactly(f.matches(a))
}

func portAt(f *portField, p uint16) tri {
	if p == 0 {
		return f.satisfiable()
	}
	return exactly(f.matches(uint32(p)))
}
