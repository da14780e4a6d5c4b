// Package policy holds meshward's allow-list: which source identity may call
// which destination with which methods and paths. It knows nothing of the
// transports that ask it (gRPC ext_authz, the filter's HTTP check).
package policy

import "strings"

// Request is the facts of one hop that a decision looks at.
type Request struct {
	SourcePrincipal string
	SourceAddress   string
	Destination     string
	Method          string
	Path            string
}

// Rule allows one source to call one destination.
type Rule struct {
	Name        string
	Source      string // a principal, or "*" for any authenticated source
	Destination string // a workload, or "*"
	Methods     map[string]bool
	Paths       []PathMatch
	Line        int // where the rule starts in its file
}

// PathMatch is one of Istio's path forms: exact, prefix "/a/*", suffix "*/b", or "*".
type PathMatch struct {
	Kind  MatchKind
	Value string
}

// MatchKind is how a PathMatch compares.
type MatchKind uint8

const (
	MatchExact MatchKind = iota
	MatchPrefix
	MatchSuffix
	MatchAny
)

// ParsePathMatch turns a path pattern into a PathMatch.
func ParsePathMatch(p string) PathMatch {
	switch {
	case p == "*":
		return PathMatch{Kind: MatchAny}
	case strings.HasSuffix(p, "*"):
		return PathMatch{Kind: MatchPrefix, Value: strings.TrimSuffix(p, "*")}
	case strings.HasPrefix(p, "*"):
		return PathMatch{Kind: MatchSuffix, Value: strings.TrimPrefix(p, "*")}
	default:
		return PathMatch{Kind: MatchExact, Value: p}
	}
}

// Matches reports whether path p matches.
func (m PathMatch) Matches(p string) bool {
	switch m.Kind {
	case MatchAny:
		return true
	case MatchPrefix:
		return strings.HasPrefix(p, m.Value)
	case MatchSuffix:
		return strings.HasSuffix(p, m.Value)
	default:
		return p == m.Value
	}
}

// Matches reports whether the rule allows r.
func (rl *Rule) Matches(r Request) bool {
	if r.SourcePrincipal == "" { // unauthenticated: never allowed, not even by "*"
		return false
	}
	if rl.Source != "*" && rl.Source != r.SourcePrincipal {
		return false
	}
	if rl.Destination != "*" && rl.Destination != r.Destination {
		return false
	}
	if len(rl.Methods) > 0 && !rl.Methods[strings.ToUpper(r.Method)] {
		return false
	}
	return matchesPath(rl.Paths, stripQuery(r.Path))
}

func matchesPath(ms []PathMatch, p string) bool {
	if len(ms) == 0 {
		return true
	}
	for _, m := range ms {
		if m.Matches(p) {
			return true
		}
	}
	return false
}

// stripQuery drops the query string: Istio matches paths without it.
func stripQuery(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		return p[:i]
	}
	return p
}

// Set is an immutable, loaded set of rules, indexed by destination.
type Set struct {
	byDestination map[string][]*Rule
	anyDest       []*Rule
	size          int
}

// NewSet indexes rules so that a decision looks only at the rules for its
// destination.
func NewSet(rules []*Rule) *Set {
	s := &Set{byDestination: map[string][]*Rule{}, size: len(rules)}
	for _, r := range rules {
		if r.Destination == "*" {
			s.anyDest = append(s.anyDest, r)
			continue
		}
		s.byDestination[r.Destination] = append(s.byDestination[r.Destination], r)
	}
	return s
}

// Len is the number of rules.
func (s *Set) Len() int { return s.size }

// Allowing returns the first rule that allows r, or nil: default deny.
func (s *Set) Allowing(r Request) *Rule {
	for _, rl := range s.byDestination[r.Destination] {
		if rl.Matches(r) {
			return rl
		}
	}
	for _, rl := range s.anyDest {
		if rl.Matches(r) {
			return rl
		}
	}
	return nil
}
