package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
)

// RuleTrace says whether one rule matched a request, and if not, why.
type RuleTrace struct {
	Rule    *Rule
	Matched bool
	Why     string // the first clause that failed
}

// PolicyTrace is one policy that selects the workload, with its rules.
type PolicyTrace struct {
	Policy *Policy
	Rules  []RuleTrace
}

// Explanation is how a request was decided.
type Explanation struct {
	Namespace string
	Selected  []PolicyTrace // in evaluation order: DENY, ALLOW, AUDIT; dry-run last
	Result    Result
}

// Explain evaluates r and says, rule by rule, why each policy that selects
// the destination matched or not. It is for operators (`extauthz policy
// explain`), not the hot path.
func (s *Set) Explain(r *Request) Explanation {
	ns := r.DestinationNS()
	f := &facts{}
	derive(r, f)
	f.anyPortNS = s.anyPort
	e := Explanation{Namespace: ns, Result: s.Evaluate(r)}
	var selected []*Policy
	for _, p := range s.byNS[RootNamespace] {
		if p.selects(r.DestinationLabels, r.DestinationService, true) {
			selected = append(selected, p)
		}
	}
	for _, p := range s.byNS[ns] {
		if ns != RootNamespace && p.selects(r.DestinationLabels, r.DestinationService, false) {
			selected = append(selected, p)
		}
	}
	rank := func(p *Policy) int {
		n := map[Action]int{Deny: 0, Allow: 1, Audit: 2}[p.Action]
		if p.DryRun {
			n += 3
		}
		return n
	}
	sort.SliceStable(selected, func(i, j int) bool { return rank(selected[i]) < rank(selected[j]) })
	for _, p := range selected {
		pt := PolicyTrace{Policy: p}
		for _, rl := range p.Rules {
			why := rl.explain(f)
			pt.Rules = append(pt.Rules, RuleTrace{Rule: rl, Matched: why == "", Why: why})
		}
		e.Selected = append(e.Selected, pt)
	}
	return e
}

func (r *Rule) explain(f *facts) string {
	if len(r.from) > 0 {
		if why := firstFailure("from", r.from, func(s *source) string { return s.explain(f) }); why != "" {
			return why
		}
	}
	if len(r.to) > 0 {
		if why := firstFailure("to", r.to, func(o *operation) string { return o.explain(f) }); why != "" {
			return why
		}
	}
	for i, c := range r.when {
		if !c.matches(f) {
			return fmt.Sprintf("when[%d]: %s is %q, which the condition's values do not admit", i, c.name, c.value(f))
		}
	}
	return ""
}

// firstFailure is "" if any entry matches, else why the first one does not.
func firstFailure[T any](name string, entries []T, why func(T) string) string {
	var first string
	for i, e := range entries {
		w := why(e)
		if w == "" {
			return ""
		}
		if i == 0 {
			first = fmt.Sprintf("%s[0]: %s", name, w)
		}
	}
	if len(entries) > 1 {
		first += fmt.Sprintf(" (and %d more %s entries do not match)", len(entries)-1, name)
	}
	return first
}

func (s *source) explain(f *facts) string {
	return firstOf(
		s.principals.explain("principals", f.principal),
		s.namespaces.explain("namespaces", f.namespace),
		s.accounts.explain("serviceAccounts", f.account()),
		s.trustDomains.explain("trustDomains", f.trustDomain),
		s.requestPrincipals.explain("requestPrincipals", f.RequestPrincipal),
		s.ips.explain("ipBlocks", f.srcIP()),
		s.remoteIPs.explain("remoteIpBlocks", f.rmtIP()),
	)
}

func (o *operation) explain(f *facts) string {
	host := ""
	if o.hosts.set && !o.hostsMatch(f) {
		host = o.hosts.explain("hosts", f.Host)
		if host == "" {
			host = fmt.Sprintf("hosts: %q does not match", f.Host)
		}
	}
	return firstOf(
		o.methods.explain("methods", f.Method),
		o.paths.explain("paths", f.path),
		host,
		o.ports.explain("ports", f.dstPort()),
	)
}

func firstOf(whys ...string) string {
	for _, w := range whys {
		if w != "" {
			return w
		}
	}
	return ""
}

func (f *strField) explain(name, v string) string {
	if f.matches(v) {
		return ""
	}
	if f.fold {
		v = strings.ToLower(v)
	}
	for _, m := range f.neg {
		if m.matches(v) {
			return fmt.Sprintf("not%s: %q matches %q", upperFirst(name), v, m.raw)
		}
	}
	return fmt.Sprintf("%s: %q matches none of %s", name, v, raws(f.pos))
}

func raws(ms []strMatch) string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = fmt.Sprintf("%q", m.raw)
	}
	return "[" + strings.Join(out, " ") + "]"
}

func (f *principalField) explain(name, v string) string {
	if f.matches(v) {
		return ""
	}
	for _, m := range f.neg {
		if m.matches(v) {
			return fmt.Sprintf("not%s: %q matches %q", upperFirst(name), v, m.raw)
		}
	}
	ps := make([]string, len(f.pos))
	for i, m := range f.pos {
		ps[i] = fmt.Sprintf("%q", m.raw)
	}
	return fmt.Sprintf("%s: %q matches none of [%s]", name, v, strings.Join(ps, " "))
}

func (f *ipField) explain(name string, a netip.Addr) string {
	if f.matches(a) {
		return ""
	}
	if containsAddr(f.neg, a) {
		return fmt.Sprintf("not%s: %s is in %v", upperFirst(name), a, f.neg)
	}
	return fmt.Sprintf("%s: %s is in none of %v", name, a, f.pos)
}

func (f *portField) explain(name string, p uint32) string {
	if f.matches(p) {
		return ""
	}
	if f.neg[p] {
		return fmt.Sprintf("not%s: %d is listed", upperFirst(name), p)
	}
	ports := make([]uint32, 0, len(f.pos))
	for k := range f.pos {
		ports = append(ports, k)
	}
	slices.Sort(ports)
	return fmt.Sprintf("%s: %d is none of %v", name, p, ports)
}

func upperFirst(s string) string { return strings.ToUpper(s[:1]) + s[1:] }
