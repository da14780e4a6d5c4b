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
	glob // any number of '*' anywhere (namespaces)
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

// pathTemplateOne and pathTemplateAny are Envoy's URI template operators:
// one path segment of pchars (RFC 3986), and any rest of the path.
const (
	pathTemplateOne = "{*}"
	pathTemplateAny = "{**}"
	pcharClass      = `[a-zA-Z0-9\-._~%!$&'()+,;:@=]`
)

// pchars is a literal segment Envoy accepts in a URI template.
var pchars = regexp.MustCompile(`^` + pcharClass + `+$`)

// parsePathMatch adds Envoy URI templates to the string forms: {*} is one
// path segment, {**} any rest of the path. Segments are checked as Istio
// checks them (CheckValidPathTemplate): an operator is a whole segment, {**}
// is the last operator, and every other segment of a template is pchars.
func parsePathMatch(s string) (strMatch, error) {
	isTemplate := strings.Contains(s, pathTemplateOne) || strings.Contains(s, pathTemplateAny)
	if err := checkPathSegments(s, isTemplate); err != nil {
		return strMatch{}, err
	}
	if !isTemplate {
		return parseStrMatch(s, false)
	}
	var b strings.Builder
	b.WriteString("^")
	for i, seg := range strings.Split(s, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		switch seg {
		case pathTemplateOne:
			b.WriteString(pcharClass + "+")
		case pathTemplateAny:
			b.WriteString(`[a-zA-Z0-9\-._~%!$&'()+,;:@=/]*`)
		default:
			b.WriteString(regexp.QuoteMeta(seg))
		}
	}
	b.WriteString("$")
	return strMatch{raw: s, kind: template, value: s, re: regexp.MustCompile(b.String())}, nil
}

func checkPathSegments(s string, isTemplate bool) error {
	sawAny := false
	for _, seg := range strings.Split(strings.Trim(s, "/"), "/") {
		switch {
		case (seg == pathTemplateOne || seg == pathTemplateAny) && sawAny:
			return fmt.Errorf("%q: {**} must be the last operator of a path template", s)
		case seg == pathTemplateAny:
			sawAny = true
		case seg == pathTemplateOne:
		case strings.ContainsAny(seg, "{}"):
			return fmt.Errorf("%q: segment %q: '{' and '}' only as a whole {*} or {**} segment", s, seg)
		case isTemplate && !pchars.MatchString(seg):
			return fmt.Errorf("%q: segment %q of a path template must be pchars (RFC 3986), without '*'", s, seg)
		}
	}
	return nil
}

// ValidPath says whether p can be written in an operation's paths (as Istio
// validates them), and why not.
func ValidPath(p string) error {
	_, err := parsePathMatch(p)
	return err
}

// ValidValue says whether v can be written as a value of Istio's string
// forms (principals, methods, hosts, ...).
func ValidValue(v string) error {
	_, err := parseStrMatch(v, false)
	return err
}

// parseNamespaceMatch reads namespaces as Istio does: every '*' stands for
// any run of characters, inner ones too ("team-*-prod").
func parseNamespaceMatch(s string, fold bool) (strMatch, error) {
	if strings.Count(s, "*") < 2 && !strings.Contains(strings.Trim(s, "*"), "*") {
		return parseStrMatch(s, fold)
	}
	return strMatch{raw: s, kind: glob, value: s}, nil
}

// globMatch: v consists of the pieces of the pattern between its '*'s, in
// order, with anything in the gaps; it allocates nothing.
func globMatch(pattern, v string) bool {
	first, rest, _ := strings.Cut(pattern, "*")
	if !strings.HasPrefix(v, first) {
		return false
	}
	v = v[len(first):]
	for {
		piece, more, ok := strings.Cut(rest, "*")
		if !ok {
			return len(v) >= len(piece) && strings.HasSuffix(v, piece)
		}
		i := strings.Index(v, piece)
		if i < 0 {
			return false
		}
		v, rest = v[i+len(piece):], more
	}
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
	case glob:
		return globMatch(m.value, v)
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
// without its port, when a MeshwardPolicy asks for it): some form must match
// pos, and no form may match neg.
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

// principalMatch is one requestPrincipals value as Istio reads it: the value
// is split at its last '/' into issuer and subject, each matched on its own
// ("*" alone: any non-empty issuer and subject; "*x": issuer suffix, or with
// no '/', subject suffix; "x*": subject prefix, or with no '/', issuer
// prefix).
type principalMatch struct {
	raw      string
	iss, sub strMatch
}

// nonEmpty is Istio's ".+": any value but the empty one.
var nonEmpty = strMatch{kind: presence}

func parsePrincipalMatch(s string) (principalMatch, error) {
	if _, err := parseStrForm(s, false); err != nil {
		return principalMatch{}, err
	}
	pm := principalMatch{raw: s}
	i := strings.LastIndexByte(s, '/')
	iss, sub := s, ""
	if i >= 0 {
		iss, sub = s[:i], s[i+1:]
	}
	exactly := func(v string) strMatch { return strMatch{kind: exact, value: v} }
	switch {
	case s == "*":
		pm.iss, pm.sub = nonEmpty, nonEmpty
	case strings.HasPrefix(s, "*") && i < 0:
		pm.iss, pm.sub = nonEmpty, strMatch{kind: suffix, value: s[1:]}
	case strings.HasPrefix(s, "*"):
		pm.iss, pm.sub = strMatch{kind: suffix, value: iss[1:]}, exactly(sub)
		if iss == "*" {
			pm.iss = nonEmpty
		}
	case strings.HasSuffix(s, "*") && i < 0:
		pm.iss, pm.sub = strMatch{kind: prefix, value: s[:len(s)-1]}, nonEmpty
	case strings.HasSuffix(s, "*"):
		pm.iss, pm.sub = exactly(iss), strMatch{kind: prefix, value: sub[:len(sub)-1]}
		if sub == "*" {
			pm.sub = nonEmpty
		}
	default:
		pm.iss, pm.sub = exactly(iss), exactly(sub)
	}
	return pm, nil
}

// matches a request principal "<iss>/<sub>" ("" without a JWT).
func (pm *principalMatch) matches(rp string) bool {
	iss, sub := rp, ""
	if i := strings.LastIndexByte(rp, '/'); i >= 0 {
		iss, sub = rp[:i], rp[i+1:]
	}
	return pm.iss.matches(iss) && pm.sub.matches(sub)
}

// principalField is requestPrincipals with its not-form.
type principalField struct {
	pos, neg []principalMatch
	set      bool
}

func (f *principalField) matches(rp string) bool {
	if !f.set {
		return true
	}
	if len(f.pos) > 0 && !anyPrincipal(f.pos, rp) {
		return false
	}
	return !anyPrincipal(f.neg, rp)
}

func anyPrincipal(ms []principalMatch, rp string) bool {
	for i := range ms {
		if ms[i].matches(rp) {
			return true
		}
	}
	return false
}

func principals(pos, neg []string, path []any, name, notName string) (principalField, error) {
	f := principalField{set: len(pos)+len(neg) > 0}
	for _, list := range []struct {
		vals []string
		into *[]principalMatch
		name string
	}{{pos, &f.pos, name}, {neg, &f.neg, notName}} {
		for i, v := range list.vals {
			m, err := parsePrincipalMatch(v)
			if err != nil {
				return f, &fieldError{at(path, list.name, i), err.Error()}
			}
			*list.into = append(*list.into, m)
		}
	}
	return f, nil
}
