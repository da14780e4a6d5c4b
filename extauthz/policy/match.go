package policy

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// strMatch is one of Istio's string forms: exact, prefix "abc*", suffix
// "*abc", presence "*" (any non-empty value).
type strMatch struct {
	raw   string // as written, for explanations
	kind  matchKind
	value string
	re    *regexp.Regexp // path templates ({*}, {**})
}

type matchKind uint8

const (
	exact matchKind = iota
	prefix
	suffix
	presence
	template
)

func parseStrMatch(s string, fold bool) (strMatch, error) {
	m, err := parseStrForm(s, fold)
	m.raw = s
	return m, err
}

func parseStrForm(s string, fold bool) (strMatch, error) {
	if fold {
		s = strings.ToLower(s)
	}
	switch {
	case s == "":
		return strMatch{}, fmt.Errorf("empty value")
	case s == "*":
		return strMatch{kind: presence}, nil
	case strings.Count(s, "*") > 1 || (strings.Contains(s[1:max(1, len(s)-1)], "*")):
		return strMatch{}, fmt.Errorf("%q: '*' may stand only at the start or the end", s)
	case strings.HasSuffix(s, "*"):
		return strMatch{kind: prefix, value: s[:len(s)-1]}, nil
	case strings.HasPrefix(s, "*"):
		return strMatch{kind: suffix, value: s[1:]}, nil
	}
	return strMatch{kind: exact, value: s}, nil
}

// parsePathMatch adds Envoy URI templates to the string forms: {*} is one
// path segment, {**} any rest of the path.
func parsePathMatch(s string) (strMatch, error) {
	if !strings.Contains(s, "{") && !strings.Contains(s, "}") {
		return parseStrMatch(s, false)
	}
	if i := strings.Index(s, "{**}"); i >= 0 && strings.Contains(s[i+4:], "{") {
		return strMatch{}, fmt.Errorf("%q: {**} must be the last operator of a path template", s)
	}
	var b strings.Builder
	b.WriteString("^")
	for rest := s; rest != ""; {
		switch {
		case strings.HasPrefix(rest, "{**}"):
			b.WriteString(".*")
			rest = rest[4:]
		case strings.HasPrefix(rest, "{*}"):
			b.WriteString("[^/]+")
			rest = rest[3:]
		case rest[0] == '{':
			return strMatch{}, fmt.Errorf("%q: only {*} and {**} are path template operators", s)
		default:
			n := strings.IndexByte(rest, '{')
			if n < 0 {
				n = len(rest)
			}
			if strings.ContainsAny(rest[:n], "*}") {
				return strMatch{}, fmt.Errorf("%q: '*' or '}' outside {*} or {**} in a path template", s)
			}
			b.WriteString(regexp.QuoteMeta(rest[:n]))
			rest = rest[n:]
		}
	}
	b.WriteString("$")
	return strMatch{raw: s, kind: template, value: s, re: regexp.MustCompile(b.String())}, nil
}

func (m strMatch) matches(v string) bool {
	switch m.kind {
	case presence:
		return v != ""
	case prefix:
		return strings.HasPrefix(v, m.value)
	case suffix:
		return strings.HasSuffix(v, m.value)
	case template:
		return m.re.MatchString(v)
	}
	return v == m.value
}

// strField is a field with its not-form: it matches when some value of pos
// matches (or pos is empty) and no value of neg matches.
type strField struct {
	pos, neg []strMatch
	fold     bool // compare case-insensitively (hosts)
	set      bool
}

func (f *strField) matches(v string) bool {
	if !f.set {
		return true
	}
	if f.fold {
		v = strings.ToLower(v)
	}
	if len(f.pos) > 0 && !anyMatch(f.pos, v) {
		return false
	}
	return !anyMatch(f.neg, v)
}

// matchesAnyForm matches a value given in several forms (a host with and
// without its port): some form must match pos, and no form may match neg.
func (f *strField) matchesAnyForm(forms ...string) bool {
	if !f.set {
		return true
	}
	pos := len(f.pos) == 0
	for _, v := range forms {
		if f.fold {
			v = strings.ToLower(v)
		}
		if anyMatch(f.neg, v) {
			return false
		}
		pos = pos || anyMatch(f.pos, v)
	}
	return pos
}

func anyMatch(ms []strMatch, v string) bool {
	for _, m := range ms {
		if m.matches(v) {
			return true
		}
	}
	return false
}

// ipField matches single addresses and CIDR blocks.
type ipField struct {
	pos, neg []netip.Prefix
	set      bool
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("%q is not an IP address or CIDR block", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR block", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (f *ipField) matches(a netip.Addr) bool {
	if !f.set {
		return true
	}
	if len(f.pos) > 0 && !containsAddr(f.pos, a) {
		return false
	}
	return !containsAddr(f.neg, a)
}

func containsAddr(ps []netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// portField matches destination ports exactly.
type portField struct {
	pos, neg map[uint32]bool
	set      bool
}

func parsePort(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not a port (1-65535)", s)
	}
	return uint32(n), nil
}

func (f *portField) matches(p uint32) bool {
	if !f.set {
		return true
	}
	if len(f.pos) > 0 && !f.pos[p] {
		return false
	}
	return !f.neg[p]
}
