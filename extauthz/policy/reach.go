package policy

import (
	"fmt"
	"net/netip"
)

// Peer is what is known of a caller before it sends a request: its SPIFFE
// ID and, when known, every address its connections may come from.
type Peer struct {
	Principal string       // spiffe://<td>/ns/<ns>/sa/<sa>
	Addresses []netip.Addr // nil: unknown, any address
}

// Workload is what the xDS server knows of a destination: the facts that
// select its policies and where its requests arrive.
type Workload struct {
	ID        string // SPIFFE ID
	Namespace string // "" derives it from ID
	Labels    map[string]string
	Service   string // short Kubernetes service name, for targetRefs
	// Addresses are every ip:port the authorizer may see as destination.ip
	// and destination.port for requests to it (with rotation: every port of
	// its pool). An invalid address or a zero port is unknown; nil: any.
	Addresses []netip.AddrPort
}

// Reach says whether some request from a source to a destination could be
// allowed, and why.
type Reach struct {
	Reachable bool
	// Reason is one of the Result reason ids: ReasonAllowed (Rule may allow
	// some request), ReasonAllowedByDefault, ReasonDeniedByPolicy (Rule denies
	// every request from the source), ReasonNoMatchingRule or
	// ReasonNoAllowPolicy.
	Reason string
	Rule   *Rule
	// AllowRules is how many enforced ALLOW rules select the destination.
	AllowRules int
}

func (r Reach) String() string {
	switch r.Reason {
	case ReasonAllowed:
		return fmt.Sprintf("reachable: %s may allow some of its requests", r.Rule.Name())
	case ReasonAllowedByDefault:
		return "reachable: no ALLOW policy selects the destination and its namespace's defaultAction is ALLOW"
	case ReasonDeniedByPolicy:
		return fmt.Sprintf("unreachable: %s denies every request from it", r.Rule.Name())
	case ReasonNoMatchingRule:
		return fmt.Sprintf("unreachable: none of the ALLOW rules that select the destination (%d) admits it", r.AllowRules)
	}
	return "unreachable: no ALLOW policy selects the destination (meshward denies by default)"
}

// Reachable says whether some request from source to dest could be allowed
// by Evaluate. It over-approximates what requests carry (a rule that could
// match some method, path, host, header, JWT or remote address counts) and
// is exact for who the caller is and where the destination listens; only a
// DENY rule that matches every request from the source makes it
// unreachable. Dry-run and AUDIT policies change nothing, as in Evaluate;
// MeshwardPolicy conditions and rate limits only ever deny, so they are left
// to the authorizer (as is quarantine); CUSTOM policies never compile here
// (meshward is the provider). To ask about many sources, build Destination
// once.
func (s *Set) Reachable(source Peer, dest Workload) Reach {
	return s.Destination(dest).From(source)
}

// Destination is one workload's policies, prepared for asking about many
// sources; it is immutable and safe for concurrent use.
type Destination struct {
	deny, allow reachRules
	selected    bool // some enforced ALLOW policy selects it
	allowRules  int
	def         Action
}

// Destination prepares dest's policies: the parts of each rule that do not
// depend on the caller are judged once, here.
func (s *Set) Destination(dest Workload) *Destination {
	w := s.forWorkload(&Request{Destination: dest.ID, DestinationNamespace: dest.Namespace,
		DestinationLabels: dest.Labels, DestinationService: dest.Service})
	addrs := dest.Addresses
	if len(addrs) == 0 {
		addrs = []netip.AddrPort{{}}
	}
	allow := w.allow.rules()
	d := &Destination{selected: w.allow.n > 0, allowRules: len(allow), def: w.def}
	d.deny.build(w.deny.rules(), addrs, matchAll)
	d.allow.build(allow, addrs, matchSome)
	return d
}

// From says whether source could have some request allowed.
func (d *Destination) From(source Peer) Reach {
	var src reachSource
	src.init(&source)
	if r := d.deny.first(&src); r != nil {
		return Reach{Reason: ReasonDeniedByPolicy, Rule: r, AllowRules: d.allowRules}
	}
	switch {
	case !d.selected && d.def == Allow:
		return Reach{Reachable: true, Reason: ReasonAllowedByDefault}
	case !d.selected:
		return Reach{Reason: ReasonNoAllowPolicy}
	}
	if r := d.allow.first(&src); r != nil {
		return Reach{Reachable: true, Reason: ReasonAllowed, Rule: r, AllowRules: d.allowRules}
	}
	return Reach{Reason: ReasonNoMatchingRule, AllowRules: d.allowRules}
}
