package policy

import (
	"slices"
	"sort"
	"strings"
	"sync"
)

// RootNamespace is Istio's default root namespace: its policies apply to
// every namespace.
const RootNamespace = "istio-system"

// Reason ids of policy outcomes.
const (
	ReasonAllowed          = "allowed"
	ReasonDeniedByPolicy   = "denied-by-policy"
	ReasonNoMatchingRule   = "no-matching-rule"
	ReasonNoAllowPolicy    = "no-allow-policy"
	ReasonAllowedByDefault = "allowed-by-default"
)

// Result is a policy outcome.
type Result struct {
	Allow  bool
	Reason string
	Rule   *Rule   // the deciding rule, if a rule decided
	Audit  []*Rule // AUDIT rules that matched
	// DryRun is what the dry-run policies would have decided, if any selects
	// the workload; it never changes Allow.
	DryRun *Result
	// Cacheable: the outcome depends only on the source principal, method,
	// path, host and destination, so a cache keyed by those may reuse it.
	Cacheable bool
}

// Set is an immutable set of compiled policies. Build one with NewSet.
type Set struct {
	byNS        map[string][]*Policy
	settings    map[string]*Settings // per namespace (MeshwardPolicy)
	anyPort     map[string]bool      // namespaces with hostsMatchAnyPort
	def         Action
	policies    int
	rules       int
	cacheMu     sync.RWMutex
	cache       map[wkey]*workloadRules
	Diagnostics []string
}

// maxCachedWorkloads bounds the per-workload cache: workload facts come from
// the filter's configuration, but a check endpoint must not let callers grow
// memory without bound.
const maxCachedWorkloads = 100_000

// NewSet indexes policies, with at most one Settings per namespace (the
// action for workloads no ALLOW policy selects, meshward's default being Deny;
// rate limits). The set holds copies of the policies and rules: callers keep
// compiled policies across sets (the last good version of an object), and a
// rule's declaration order is the set's, so it cannot be written into a rule
// an older set may still be deciding with.
func NewSet(policies []*Policy, settings []*Settings) *Set {
	own := make([]*Policy, len(policies))
	for i, p := range policies {
		own[i] = p.clone()
	}
	return newSet(own, settings)
}

// clone copies a policy and its rules; what rules point to (their compiled
// matchers) is never written after compiling, and is shared.
func (p *Policy) clone() *Policy {
	c := *p
	c.Rules = make([]*Rule, len(p.Rules))
	rules := make([]Rule, len(p.Rules))
	for i, r := range p.Rules {
		rules[i] = *r
		rules[i].Policy = &c
		c.Rules[i] = &rules[i]
	}
	return &c
}

// newSet indexes policies that no other set holds, numbering their rules.
func newSet(policies []*Policy, settings []*Settings) *Set {
	s := &Set{byNS: map[string][]*Policy{}, settings: map[string]*Settings{}, def: Deny}
	for _, st := range settings {
		s.settings[st.Namespace] = st
		if st.HostsMatchAnyPort {
			if s.anyPort == nil {
				s.anyPort = map[string]bool{}
			}
			s.anyPort[st.Namespace] = true
		}
	}
	order := 0
	for _, p := range policies {
		s.byNS[p.Namespace] = append(s.byNS[p.Namespace], p)
		s.policies++
		for _, r := range p.Rules {
			r.order = order
			order++
			s.rules++
		}
	}
	return s
}

// Len is the number of rules; Policies the number of policies.
func (s *Set) Len() int      { return s.rules }
func (s *Set) Policies() int { return s.policies }

// workloadRules are the rules of the policies that select one workload.
type workloadRules struct {
	deny, allow, audit ruleIndex
	dryDeny, dryAllow  ruleIndex
	def                Action
	cacheable          bool
}

// wkey names a destination workload without allocating: up to one label
// inline (the common case), more labels folded into rest.
type wkey struct {
	ns, svc, k, v, rest string
}

func (s *Set) forWorkload(r *Request) *workloadRules {
	ns := r.DestinationNS()
	key := wkey{ns: ns, svc: r.DestinationService}
	if len(r.DestinationLabels) == 1 {
		for k, v := range r.DestinationLabels {
			key.k, key.v = k, v
		}
	} else if len(r.DestinationLabels) > 1 {
		key.rest = labelsKey(r.DestinationLabels)
	}
	s.cacheMu.RLock()
	w, ok := s.cache[key]
	s.cacheMu.RUnlock()
	if ok {
		return w
	}
	w = s.collect(ns, r.DestinationService, r.DestinationLabels)
	s.cacheMu.Lock()
	if s.cache == nil {
		s.cache = map[wkey]*workloadRules{}
	}
	if len(s.cache) < maxCachedWorkloads {
		s.cache[key] = w
	}
	s.cacheMu.Unlock()
	return w
}

// labelsKey writes several labels in a stable order.
func labelsKey(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(labels[k])
	}
	return b.String()
}

func (s *Set) collect(ns, svc string, labels map[string]string) *workloadRules {
	w := &workloadRules{def: s.def, cacheable: true}
	if st, ok := s.settings[ns]; ok {
		w.def = st.DefaultAction
	}
	var selected []*Policy
	for _, p := range s.byNS[RootNamespace] {
		if p.selects(labels, svc, true) {
			selected = append(selected, p)
		}
	}
	if ns != RootNamespace {
		for _, p := range s.byNS[ns] {
			if p.selects(labels, svc, false) {
				selected = append(selected, p)
			}
		}
	}
	for _, p := range selected {
		for _, r := range p.Rules {
			w.index(p, r)
		}
		if len(p.Rules) == 0 && p.Action == Allow { // an ALLOW policy without rules allows nothing, but selects
			w.index(p, nil)
		}
	}
	return w
}

func (w *workloadRules) index(p *Policy, r *Rule) {
	// Audit and dry-run outcomes are logged per decision: a cached answer
	// would skip the log line.
	if p.Action == Audit || p.DryRun || (r != nil && !r.keyedByRequestFacts()) {
		w.cacheable = false
	}
	var ix *ruleIndex
	switch {
	case p.Action == Audit:
		ix = &w.audit
	case p.Action == Deny && p.DryRun:
		ix = &w.dryDeny
	case p.Action == Deny:
		ix = &w.deny
	case p.DryRun:
		ix = &w.dryAllow
	default:
		ix = &w.allow
	}
	if r == nil {
		ix.n++ // counts as selecting, matches nothing
		return
	}
	ix.add(r)
}

// selects says whether the policy applies to a workload. A targetRefs policy
// applies to the workloads of its services; root-namespace policies apply in
// every namespace.
func (p *Policy) selects(labels map[string]string, svc string, root bool) bool {
	if len(p.services) > 0 {
		return !root && slices.Contains(p.services, svc)
	}
	for k, v := range p.selector {
		if got, ok := labels[k]; !ok || got != v { // "app: ''" needs an app label
			return false
		}
	}
	return true
}

// Evaluate decides a request with Istio's order: DENY, then ALLOW; AUDIT
// rules are reported; a workload that no ALLOW policy selects gets its
// namespace's default (meshward: deny). Dry-run policies are judged as if
// they were enforced alongside the others, and reported in DryRun.
func (s *Set) Evaluate(r *Request) Result {
	w := s.forWorkload(r)
	var f facts
	derive(r, &f)
	f.anyPortNS = s.anyPort
	res := decide(&w.deny, nil, &w.allow, nil, w.def, &f)
	res.Cacheable = w.cacheable
	if w.audit.n > 0 {
		res.Audit = w.audit.all(&f)
	}
	if w.dryDeny.n+w.dryAllow.n > 0 {
		dry := decide(&w.deny, &w.dryDeny, &w.allow, &w.dryAllow, w.def, &f)
		res.DryRun = &dry
	}
	return res
}

// decide applies DENY then ALLOW; the second index of each (dry-run
// policies) may be nil.
func decide(deny, deny2, allow, allow2 *ruleIndex, def Action, f *facts) Result {
	for _, ix := range [2]*ruleIndex{deny, deny2} {
		if ix == nil {
			continue
		}
		if r := ix.first(f); r != nil {
			return Result{Reason: ReasonDeniedByPolicy, Rule: r}
		}
	}
	selected := false
	for _, ix := range [2]*ruleIndex{allow, allow2} {
		if ix == nil {
			continue
		}
		selected = selected || ix.n > 0
		if r := ix.first(f); r != nil {
			return Result{Allow: true, Reason: ReasonAllowed, Rule: r}
		}
	}
	switch {
	case selected:
		return Result{Reason: ReasonNoMatchingRule}
	case def == Allow:
		return Result{Allow: true, Reason: ReasonAllowedByDefault}
	}
	return Result{Reason: ReasonNoAllowPolicy}
}
