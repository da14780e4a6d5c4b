package policy

import (
	"fmt"
	"strconv"
	"strings"

	securityv1beta1 "istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
)

// Action is what a policy does with the requests its rules match.
type Action uint8

const (
	Allow Action = iota
	Deny
	Audit
)

func (a Action) String() string { return [...]string{"ALLOW", "DENY", "AUDIT"}[a] }

// DryRunAnnotation makes a policy evaluated and logged but not enforced.
const DryRunAnnotation = "istio.io/dry-run"

// Policy is one compiled AuthorizationPolicy.
type Policy struct {
	Namespace, Name string
	Action          Action
	DryRun          bool
	selector        map[string]string // nil: every workload of the namespace
	services        []string          // targetRefs of kind Service
	Rules           []*Rule
	Source          string // file:line where it was written
}

// Rule is one compiled rule: it matches when one of its sources, one of its
// operations and all of its conditions match.
type Rule struct {
	Policy *Policy
	Index  int
	from   []*source
	to     []*operation
	when   []*condition
	order  int // global declaration order, for deterministic "first match"
	// keyDim is the index dimension the rule is keyed by; fromIsKey says its
	// sources say nothing but that key, so a lookup by key has already
	// matched them (and the cold memory behind them need not be read).
	keyDim    dim
	keyed     bool
	fromIsKey bool
}

// Name is namespace/policy[rule], as logs and explanations give it.
func (r *Rule) Name() string {
	return fmt.Sprintf("%s/%s[%d]", r.Policy.Namespace, r.Policy.Name, r.Index)
}

// source is one from entry. Most name callers by principal, namespace or
// service account; the other fields sit behind a pointer, shared (and never
// written) when none of them is given, which halves a large set's sources.
type source struct {
	principals, namespaces, accounts strField
	*sourceRest
}

type sourceRest struct {
	trustDomains      strField
	requestPrincipals principalField
	ips, remoteIPs    ipField
}

// noSourceRest is every source's rest that gives none of it: read only.
var noSourceRest = &sourceRest{}

// operation is one to entry; hosts and ports, less often given than
// methods and paths, sit behind a pointer shared when unset (as in source).
type operation struct {
	methods, paths strField
	// methodMask holds the methods when they are all standard ones: a bit
	// test instead of reading the strings (cold memory in a large set).
	methodMask uint16
	*operationRest
}

type operationRest struct {
	hosts strField
	ports portField
	ns    string // the policy's: its MeshwardPolicy may let hosts match any port
}

// noOperationRest is every operation's rest that names no host or port:
// read only.
var noOperationRest = &operationRest{}

var methodBits = map[string]uint16{"GET": 1, "HEAD": 2, "POST": 4, "PUT": 8, "DELETE": 16,
	"PATCH": 32, "OPTIONS": 64, "CONNECT": 128, "TRACE": 256}

// methodNames interns the standard methods: a large set names GET and POST
// in nearly every rule, each decoded as a string of its own.
var methodNames = func() map[string]string {
	m := make(map[string]string, len(methodBits))
	for k := range methodBits {
		m[k] = k
	}
	return m
}()

func parseMethod(v string, fold bool) (strMatch, error) {
	if name, ok := methodNames[v]; ok {
		v = name
	}
	return parseStrMatch(v, fold)
}

func (o *operation) compileMethodMask() {
	if len(o.methods.neg) > 0 || len(o.methods.pos) == 0 {
		return
	}
	var mask uint16
	for _, m := range o.methods.pos {
		bit, ok := methodBits[m.value]
		if m.kind != exact || !ok {
			return
		}
		mask |= bit
	}
	o.methodMask = mask
}

// fieldError is a compile error at a path inside the resource.
type fieldError struct {
	path []any
	msg  string
}

func (e *fieldError) Error() string { return pathString(e.path) + ": " + e.msg }

func pathString(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch p := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", p)
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, p)
		}
	}
	return b.String()
}

func at(path []any, more ...any) []any {
	return append(append(make([]any, 0, len(path)+len(more)), path...), more...)
}

// Compile turns an AuthorizationPolicy into a Policy. It refuses what
// Istio's validation refuses, and what meshward could not enforce as Istio
// would (see the README's "Differences from Istio").
func Compile(ap *securityv1.AuthorizationPolicy) (*Policy, error) {
	p, err := compileHeader(ap, len(ap.Spec.GetRules()))
	if err != nil {
		return nil, err
	}
	for i, r := range ap.Spec.GetRules() {
		if err := p.addRule(r, i); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// compileHeader compiles all but the rules of a policy that has n rules,
// so that a large policy's rules can be decoded and compiled one by one.
func compileHeader(ap *securityv1.AuthorizationPolicy, n int) (*Policy, error) {
	spec := &ap.Spec
	p := &Policy{Namespace: ap.Namespace, Name: ap.Name, Rules: make([]*Rule, 0, n)}
	if p.Namespace == "" {
		p.Namespace = "default"
	}
	if err := p.compileAction(spec, n); err != nil {
		return nil, err
	}
	if err := p.compileDryRun(ap.Annotations); err != nil {
		return nil, err
	}
	if err := p.compileTargets(spec); err != nil {
		return nil, err
	}
	return p, nil
}

// addRule compiles rule i; nothing of r is kept but strings.
func (p *Policy) addRule(r *securityv1beta1.Rule, i int) error {
	rule, err := compileRule(r, p, at([]any{"spec", "rules"}, i))
	if err != nil {
		return err
	}
	rule.Index = i
	rule.computeKey()
	p.Rules = append(p.Rules, rule)
	return nil
}

func (p *Policy) compileAction(spec *securityv1beta1.AuthorizationPolicy, rules int) error {
	switch spec.GetAction() {
	case securityv1beta1.AuthorizationPolicy_ALLOW:
		p.Action = Allow
	case securityv1beta1.AuthorizationPolicy_DENY:
		p.Action = Deny
	case securityv1beta1.AuthorizationPolicy_AUDIT:
		p.Action = Audit
	default:
		return &fieldError{[]any{"spec", "action"}, fmt.Sprintf("%s is not supported: CUSTOM delegates to an ext_authz provider, and meshward is that provider; use ALLOW, DENY or AUDIT", spec.GetAction())}
	}
	if spec.GetProvider() != nil {
		return &fieldError{[]any{"spec", "provider"}, fmt.Sprintf("a provider belongs to action CUSTOM only, not %s", spec.GetAction())}
	}
	if p.Action == Deny && rules == 0 {
		return &fieldError{[]any{"spec", "action"}, "a DENY policy without rules denies nothing (Istio refuses it); give it rules"}
	}
	return nil
}

// compileDryRun reads the annotation as Istio does (strconv.ParseBool).
func (p *Policy) compileDryRun(annotations map[string]string) error {
	v, ok := annotations[DryRunAnnotation]
	if !ok {
		return nil
	}
	dry, err := strconv.ParseBool(v)
	if err != nil {
		return &fieldError{[]any{"metadata", "annotations", DryRunAnnotation}, fmt.Sprintf("%q is not a boolean (true, false, 1, 0, ...)", v)}
	}
	if dry && p.Action == Audit {
		return &fieldError{[]any{"metadata", "annotations", DryRunAnnotation}, "dry-run does not apply to AUDIT policies (they are never enforced)"}
	}
	p.DryRun = dry
	return nil
}

func (p *Policy) compileTargets(spec *securityv1beta1.AuthorizationPolicy) error {
	refs, field := spec.GetTargetRefs(), "targetRefs"
	if spec.GetTargetRef() != nil { // the deprecated single form
		refs, field = append(refs, spec.GetTargetRef()), "targetRef"
	}
	if spec.GetSelector() != nil && len(refs) > 0 {
		return &fieldError{[]any{"spec", "selector"}, "selector and targetRefs cannot both be set"}
	}
	if sel := spec.GetSelector(); sel != nil {
		if err := checkSelector(sel.GetMatchLabels()); err != nil {
			return err
		}
		p.selector = sel.GetMatchLabels()
		if p.selector == nil {
			p.selector = map[string]string{}
		}
	}
	for i, ref := range refs {
		path := []any{"spec", field, i}
		if field == "targetRef" {
			path = path[:2]
		}
		if ref.GetKind() != "Service" || (ref.GetGroup() != "" && ref.GetGroup() != "core") {
			return &fieldError{path, fmt.Sprintf("kind %q: a sidecar enforces targetRefs of kind Service only", ref.GetKind())}
		}
		if ref.GetName() == "" {
			return &fieldError{at(path, "name"), "empty"}
		}
		if ref.GetNamespace() != "" {
			return &fieldError{at(path, "namespace"), "must not be set: a policy targets its own namespace"}
		}
		p.services = append(p.services, ref.GetName())
	}
	return nil
}

func checkSelector(labels map[string]string) error {
	for k, v := range labels {
		path := []any{"spec", "selector", "matchLabels"}
		switch {
		case k == "":
			return &fieldError{path, fmt.Sprintf("empty label name (value %q)", v)}
		case strings.Contains(k, "*") || strings.Contains(v, "*"):
			return &fieldError{path, fmt.Sprintf("%s=%s: a selector takes no wildcard", k, v)}
		}
	}
	return nil
}

func compileRule(r *securityv1beta1.Rule, p *Policy, path []any) (*Rule, error) {
	rule := &Rule{Policy: p}
	for i, f := range r.GetFrom() {
		s, err := compileSource(f.GetSource(), p.Namespace, at(path, "from", i, "source"))
		if err != nil {
			return nil, err
		}
		rule.from = append(rule.from, s)
	}
	for i, t := range r.GetTo() {
		o, err := compileOperation(t.GetOperation(), p.Namespace, at(path, "to", i, "operation"))
		if err != nil {
			return nil, err
		}
		rule.to = append(rule.to, o)
	}
	for i, c := range r.GetWhen() {
		cond, err := compileCondition(c, at(path, "when", i), p.Namespace)
		if err != nil {
			return nil, err
		}
		rule.when = append(rule.when, cond)
	}
	return rule, nil
}

func strs(pos, neg []string, fold bool, path []any, name, notName string, parse func(string, bool) (strMatch, error)) (strField, error) {
	f := strField{fold: fold, set: len(pos)+len(neg) > 0}
	for i, v := range pos {
		m, err := parse(v, fold)
		if err != nil {
			return f, &fieldError{at(path, name, i), err.Error()}
		}
		f.pos = append(f.pos, m)
	}
	for i, v := range neg {
		m, err := parse(v, fold)
		if err != nil {
			return f, &fieldError{at(path, notName, i), err.Error()}
		}
		f.neg = append(f.neg, m)
	}
	return f, nil
}

func ips(pos, neg []string, path []any, name, notName string) (ipField, error) {
	f := ipField{set: len(pos)+len(neg) > 0}
	for i, v := range pos {
		p, err := parsePrefix(v)
		if err != nil {
			return f, &fieldError{at(path, name, i), err.Error()}
		}
		f.pos = append(f.pos, p)
	}
	for i, v := range neg {
		p, err := parsePrefix(v)
		if err != nil {
			return f, &fieldError{at(path, notName, i), err.Error()}
		}
		f.neg = append(f.neg, p)
	}
	return f, nil
}

func ports(pos, neg []string, path []any, name, notName string) (portField, error) {
	// Maps only for lists that are written: most operations name no port,
	// and a nil map reads as empty.
	f := portField{set: len(pos)+len(neg) > 0, pos: portSet(pos), neg: portSet(neg)}
	for _, list := range []struct {
		vals []string
		into map[uint32]bool
		name string
	}{{pos, f.pos, name}, {neg, f.neg, notName}} {
		for i, v := range list.vals {
			n, err := parsePort(v)
			if err != nil {
				return f, &fieldError{at(path, list.name, i), err.Error()}
			}
			list.into[n] = true
		}
	}
	return f, nil
}

func portSet(vals []string) map[uint32]bool {
	if len(vals) == 0 {
		return nil
	}
	return make(map[uint32]bool, len(vals))
}

func compileSource(s *securityv1beta1.Source, ns string, path []any) (*source, error) {
	if s == nil {
		return nil, &fieldError{path, "from without a source"}
	}
	if len(s.GetServiceAccounts())+len(s.GetNotServiceAccounts()) > 0 &&
		len(s.GetPrincipals())+len(s.GetNotPrincipals())+len(s.GetNamespaces())+len(s.GetNotNamespaces()) > 0 {
		return nil, &fieldError{at(path, "serviceAccounts"), "cannot be set with principals or namespaces"}
	}
	out := &source{sourceRest: &sourceRest{}}
	var err error
	if out.principals, err = strs(s.GetPrincipals(), s.GetNotPrincipals(), false, path, "principals", "notPrincipals", parseStrMatch); err != nil {
		return nil, err
	}
	if out.requestPrincipals, err = principals(s.GetRequestPrincipals(), s.GetNotRequestPrincipals(), path, "requestPrincipals", "notRequestPrincipals"); err != nil {
		return nil, err
	}
	if out.namespaces, err = strs(s.GetNamespaces(), s.GetNotNamespaces(), false, path, "namespaces", "notNamespaces", parseNamespaceMatch); err != nil {
		return nil, err
	}
	if out.trustDomains, err = strs(s.GetTrustDomains(), s.GetNotTrustDomains(), false, path, "trustDomains", "notTrustDomains", parseTrustDomain); err != nil {
		return nil, err
	}
	if out.accounts, err = accounts(s.GetServiceAccounts(), s.GetNotServiceAccounts(), ns, path, "serviceAccounts", "notServiceAccounts"); err != nil {
		return nil, err
	}
	if out.ips, err = ips(s.GetIpBlocks(), s.GetNotIpBlocks(), path, "ipBlocks", "notIpBlocks"); err != nil {
		return nil, err
	}
	if out.remoteIPs, err = ips(s.GetRemoteIpBlocks(), s.GetNotRemoteIpBlocks(), path, "remoteIpBlocks", "notRemoteIpBlocks"); err != nil {
		return nil, err
	}
	if !out.principals.set && !out.requestPrincipals.set && !out.namespaces.set && !out.trustDomains.set &&
		!out.accounts.set && !out.ips.set && !out.remoteIPs.set {
		return nil, &fieldError{path, "an empty source matches every caller (Istio refuses it); name the callers, or leave out from"}
	}
	if !out.requestPrincipals.set && !out.trustDomains.set && !out.ips.set && !out.remoteIPs.set {
		out.sourceRest = noSourceRest
	}
	return out, nil
}

// maxAccounts and maxAccountLen are Istio's bounds on serviceAccounts.
const (
	maxAccounts   = 16
	maxAccountLen = 320
)

// accounts reads serviceAccounts as Istio checks them (CheckServiceAccount):
// <sa> (the policy's namespace) or <namespace>/<sa>, no wildcard.
func accounts(pos, neg []string, ns string, path []any, name, notName string) (strField, error) {
	for _, l := range []struct {
		vals []string
		name string
	}{{pos, name}, {neg, notName}} {
		if len(l.vals) > maxAccounts {
			return strField{}, &fieldError{at(path, l.name), fmt.Sprintf("%d values: at most %d", len(l.vals), maxAccounts)}
		}
	}
	return strs(pos, neg, false, path, name, notName, func(v string, _ bool) (strMatch, error) {
		a, err := parseAccount(v, ns)
		return strMatch{raw: v, kind: exact, value: a}, err
	})
}

// parseAccount qualifies a service account as <namespace>/<sa>.
func parseAccount(v, ns string) (string, error) {
	a, s, qualified := strings.Cut(v, "/")
	switch {
	case v == "":
		return "", fmt.Errorf("empty value")
	case strings.Contains(v, "*"):
		return "", fmt.Errorf("%q: service accounts take no wildcard", v)
	case len(v) > maxAccountLen:
		return "", fmt.Errorf("%d characters: at most %d", len(v), maxAccountLen)
	case !qualified:
		return ns + "/" + v, nil
	case a == "" || s == "" || strings.Contains(s, "/"):
		return "", fmt.Errorf("%q: want <serviceaccount> or <namespace>/<serviceaccount>", v)
	}
	return v, nil
}

// parseTrustDomain takes a trust domain in Istio's forms (exact, "*",
// "*suffix", "prefix*"); never a SPIFFE ID or a path.
func parseTrustDomain(v string, fold bool) (strMatch, error) {
	if strings.Contains(v, "/") {
		return strMatch{}, fmt.Errorf("%q: a trust domain has no '/' (write cluster.local, not spiffe://cluster.local)", v)
	}
	return parseStrMatch(v, fold)
}

func compileOperation(o *securityv1beta1.Operation, ns string, path []any) (*operation, error) {
	if o == nil {
		return nil, &fieldError{path, "to without an operation"}
	}
	out := &operation{operationRest: &operationRest{ns: ns}}
	var err error
	if out.hosts, err = strs(o.GetHosts(), o.GetNotHosts(), true, path, "hosts", "notHosts", parseStrMatch); err != nil {
		return nil, err
	}
	if out.methods, err = strs(o.GetMethods(), o.GetNotMethods(), false, path, "methods", "notMethods", parseMethod); err != nil {
		return nil, err
	}
	pathParse := func(s string, _ bool) (strMatch, error) { return parsePathMatch(s) }
	if out.paths, err = strs(o.GetPaths(), o.GetNotPaths(), false, path, "paths", "notPaths", pathParse); err != nil {
		return nil, err
	}
	if out.ports, err = ports(o.GetPorts(), o.GetNotPorts(), path, "ports", "notPorts"); err != nil {
		return nil, err
	}
	if !out.hosts.set && !out.methods.set && !out.paths.set && !out.ports.set {
		return nil, &fieldError{path, "an empty operation matches every request (Istio refuses it); name what it allows, or leave out to"}
	}
	if !out.hosts.set && !out.ports.set {
		out.operationRest = noOperationRest
	}
	out.compileMethodMask()
	return out, nil
}
