package policy

import (
	"fmt"
	"strings"
	"time"

	meshwardv1alpha1 "github.com/meshward/meshward/api/meshward/v1alpha1"
)

// Settings is what a MeshwardPolicy says for its namespace.
type Settings struct {
	Namespace     string
	DefaultAction Action
	// HostsMatchAnyPort: the namespace's policies match hosts with or
	// without the request's port (Istio matches :authority exactly).
	HostsMatchAnyPort bool
	RateLimits        []*RateLimit
	// EnforceLateral quarantines a source of this namespace suspected of
	// lateral movement, for QuarantineFor; otherwise it is only alerted.
	EnforceLateral bool
	QuarantineFor  time.Duration
	Conditions     []*Condition
	exemptions     []*operation
	encrypt        strField
	Source         string
}

// DefaultLateralQuarantine is how long an enforced quarantine lasts.
const DefaultLateralQuarantine = 10 * time.Minute

// RateLimit is one token bucket per matching source principal.
type RateLimit struct {
	Name              string // namespace/policy/rateLimits[i], the bucket family
	sources           strField
	RequestsPerSecond float64
	Burst             int
}

// Applies says whether the limit counts calls from this source (a SPIFFE ID).
func (rl *RateLimit) Applies(sourcePrincipal string) bool {
	p := sourcePrincipal
	if len(p) > 9 && p[:9] == "spiffe://" {
		p = p[9:]
	}
	return rl.sources.matches(p)
}

// maxRate bounds a rate limit to something a token bucket can represent.
const maxRate = 1e7

// CompileSettings turns a MeshwardPolicy into the Settings of its namespace.
func CompileSettings(mp *meshwardv1alpha1.MeshwardPolicy) (*Settings, error) {
	st := &Settings{Namespace: mp.Namespace, HostsMatchAnyPort: mp.Spec.HostsMatchAnyPort}
	if st.Namespace == "" {
		st.Namespace = "default"
	}
	switch mp.Spec.DefaultAction {
	case "", "DENY":
		st.DefaultAction = Deny
	case "ALLOW":
		st.DefaultAction = Allow
	default:
		return nil, &fieldError{[]any{"spec", "defaultAction"}, fmt.Sprintf("%q: want DENY or ALLOW", mp.Spec.DefaultAction)}
	}
	if err := st.compileLateral(mp.Spec.LateralMovement); err != nil {
		return nil, err
	}
	for i, c := range mp.Spec.Conditions {
		cond, err := compileCELCondition(c, st.Namespace, mp.Name, i)
		if err != nil {
			return nil, err
		}
		st.Conditions = append(st.Conditions, cond)
	}
	for i, e := range mp.Spec.QuarantineExemptions {
		path := []any{"spec", "quarantineExemptions", i}
		if len(e.Paths)+len(e.Methods) == 0 {
			return nil, &fieldError{path, "an exemption needs paths or methods (an empty one would exempt everything)"}
		}
		op := &operation{operationRest: noOperationRest}
		var err error
		pathParse := func(s string, _ bool) (strMatch, error) { return parsePathMatch(s) }
		if op.paths, err = strs(e.Paths, nil, false, path, "paths", "", pathParse); err != nil {
			return nil, err
		}
		if op.methods, err = strs(e.Methods, nil, false, path, "methods", "", parseStrMatch); err != nil {
			return nil, err
		}
		st.exemptions = append(st.exemptions, op)
	}
	for i, e := range mp.Spec.Encrypt {
		f, err := strs(e.Sources, nil, false, []any{"spec", "encrypt", i}, "sources", "", parseStrMatch)
		if err != nil {
			return nil, err
		}
		if len(f.pos) == 0 {
			return nil, &fieldError{[]any{"spec", "encrypt", i, "sources"}, "empty"}
		}
		st.encrypt.pos = append(st.encrypt.pos, f.pos...)
		st.encrypt.set = true
	}
	for i, l := range mp.Spec.RateLimits {
		path := []any{"spec", "rateLimits", i}
		if !(l.RequestsPerSecond > 0 && l.RequestsPerSecond <= maxRate) {
			return nil, &fieldError{at(path, "requestsPerSecond"), fmt.Sprintf("%v: want more than 0 and at most %g", l.RequestsPerSecond, float64(maxRate))}
		}
		if l.Burst < 0 {
			return nil, &fieldError{at(path, "burst"), fmt.Sprintf("%d: want 0 (the rate, rounded up) or more", l.Burst)}
		}
		rl := &RateLimit{Name: fmt.Sprintf("%s/%s/rateLimits[%d]", st.Namespace, mp.Name, i),
			RequestsPerSecond: l.RequestsPerSecond, Burst: l.Burst}
		if rl.Burst == 0 {
			rl.Burst = int(l.RequestsPerSecond + 0.999)
		}
		var err error
		if rl.sources, err = strs(l.Sources, nil, false, path, "sources", "", parseStrMatch); err != nil {
			return nil, err
		}
		st.RateLimits = append(st.RateLimits, rl)
	}
	return st, nil
}

func (st *Settings) compileLateral(lm *meshwardv1alpha1.LateralMovement) error {
	st.QuarantineFor = DefaultLateralQuarantine
	if lm == nil {
		return nil
	}
	switch lm.Mode {
	case "", "alert":
	case "enforce":
		st.EnforceLateral = true
	default:
		return &fieldError{[]any{"spec", "lateralMovement", "mode"}, fmt.Sprintf("%q: want alert or enforce", lm.Mode)}
	}
	switch {
	case lm.QuarantineSeconds < 0 || lm.QuarantineSeconds > 7*24*3600:
		return &fieldError{[]any{"spec", "lateralMovement", "quarantineSeconds"}, fmt.Sprintf("%d: want 0 (600) to 604800", lm.QuarantineSeconds)}
	case lm.QuarantineSeconds > 0:
		st.QuarantineFor = time.Duration(lm.QuarantineSeconds) * time.Second
	}
	return nil
}

// Lateral says whether suspected lateral movement by sources of a namespace
// is enforced (quarantined) and for how long.
func (s *Set) Lateral(namespace string) (enforce bool, quarantineFor time.Duration) {
	if st, ok := s.settings[namespace]; ok {
		return st.EnforceLateral, st.QuarantineFor
	}
	return false, DefaultLateralQuarantine
}

// RateLimits are the limits on calls to workloads of a namespace.
func (s *Set) RateLimits(namespace string) []*RateLimit {
	if st, ok := s.settings[namespace]; ok {
		return st.RateLimits
	}
	return nil
}

// QuarantineExempt says whether a request may pass a quarantine: it matches
// an exemption of the destination's namespace.
func (s *Set) QuarantineExempt(r *Request) bool {
	st, ok := s.settings[r.DestinationNS()]
	if !ok || len(st.exemptions) == 0 {
		return false
	}
	var f facts
	derive(r, &f)
	for _, e := range st.exemptions { // paths and methods only: no hosts
		if e.matches(&f) {
			return true
		}
	}
	return false
}

// MustEncrypt says whether the request's body must be encrypted (an EaaS
// obligation of the destination's namespace).
func (s *Set) MustEncrypt(r *Request) bool {
	st, ok := s.settings[r.DestinationNS()]
	if !ok || !st.encrypt.set || r.SourcePrincipal == "" {
		return false
	}
	return st.encrypt.matches(strings.TrimPrefix(r.SourcePrincipal, "spiffe://"))
}
