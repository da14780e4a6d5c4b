package policy

import "strings"

// dim is a fact a rule can be indexed by: the rule lists only exact values
// of it, so it can match only requests whose fact is one of them.
type dim uint8

const (
	dimPrincipal dim = iota
	dimAccount
	dimNamespace
	dimPath
	dimHost
	dimSegment // the first path segment, for prefix and template paths
	numDims
)

// indexKeys picks the first dimension, most selective first, in which every
// source (or every operation) of the rule lists exact values only.
func (r *Rule) indexKeys() (dim, []string, bool) {
	for _, d := range []dim{dimPrincipal, dimAccount, dimNamespace} {
		if keys, ok := exactKeys(r.from, func(s *source) *strField { return s.field(d) }); ok {
			return d, keys, true
		}
	}
	for _, d := range []dim{dimPath, dimHost} {
		if keys, ok := exactKeys(r.to, func(o *operation) *strField { return o.field(d) }); ok {
			return d, keys, true
		}
	}
	if keys, ok := segmentKeys(r.to); ok {
		return dimSegment, keys, true
	}
	return 0, nil, false
}

// segmentKeys keys a rule by the first path segment of every path it allows,
// when each of its patterns spells that segment out in full ("/healthz/*",
// "/v1/{*}/charge", "/a"): a request under another first segment cannot match.
func segmentKeys(ops []*operation) ([]string, bool) {
	if len(ops) == 0 {
		return nil, false
	}
	var keys []string
	for _, o := range ops {
		if len(o.paths.pos) == 0 {
			return nil, false
		}
		for _, m := range o.paths.pos {
			var lit string
			switch m.kind {
			case exact:
				lit = m.value + "/" // the whole path is literal
			case prefix:
				lit = m.value
			case template:
				lit = m.value[:strings.IndexByte(m.value, '{')]
			default:
				return nil, false
			}
			seg, ok := firstSegment(lit)
			if !ok {
				return nil, false
			}
			keys = append(keys, seg)
		}
	}
	return keys, true
}

// firstSegment returns "/a" from "/a/..." when the segment is complete (a
// second '/' follows it).
func firstSegment(p string) (string, bool) {
	if len(p) < 2 || p[0] != '/' {
		return "", false
	}
	i := strings.IndexByte(p[1:], '/')
	if i < 0 {
		return "", false
	}
	return p[:i+1], true
}

// requestSegment is the request path's first segment ("/a" for "/a/b" and "/a").
func requestSegment(p string) string {
	if len(p) < 1 || p[0] != '/' {
		return p
	}
	if i := strings.IndexByte(p[1:], '/'); i >= 0 {
		return p[:i+1]
	}
	return p
}

func (s *source) field(d dim) *strField {
	switch d {
	case dimPrincipal:
		return &s.principals
	case dimAccount:
		return &s.accounts
	}
	return &s.namespaces
}

func (o *operation) field(d dim) *strField {
	if d == dimPath {
		return &o.paths
	}
	return &o.hosts
}

func exactKeys[T any](entries []T, field func(T) *strField) ([]string, bool) {
	if len(entries) == 0 {
		return nil, false
	}
	var keys []string
	for _, e := range entries {
		f := field(e)
		if len(f.pos) == 0 {
			return nil, false
		}
		for _, m := range f.pos {
			if m.kind != exact {
				return nil, false
			}
			keys = append(keys, m.value)
		}
	}
	return keys, true
}

// keys are the request's values of a dimension (a host with and without
// its port).
func (f *facts) keys(d dim, buf []string) []string {
	switch d {
	case dimPrincipal:
		return append(buf, f.principal)
	case dimAccount:
		return append(buf, f.account())
	case dimNamespace:
		return append(buf, f.namespace)
	case dimPath:
		return append(buf, f.path)
	case dimSegment:
		return append(buf, requestSegment(f.path))
	}
	h := strings.ToLower(f.Host)
	if f.hostBare() != f.Host {
		return append(buf, h, strings.ToLower(f.hostBare()))
	}
	return append(buf, h)
}

// ruleIndex finds the first matching rule in declaration order, looking only
// at the rules whose keys the request has, and at the few rules no key
// narrows.
type ruleIndex struct {
	by   [numDims]map[string]keyEntry
	rest []*Rule
	n    int
}

// keyEntry is what one key finds. The map holds it by value, so that the
// common case, one simple rule under the key, is decided from the map's own
// memory, without reading the rule (cold in a large set).
type keyEntry struct {
	rules []*Rule
	fast  fastRule // for rules[0], when it is the only rule and simple
}

// fastRule is a rule whose sources are its key, with at most one operation
// of standard methods and one exact or prefix path.
type fastRule struct {
	ok      bool
	methods uint16 // 0: any method
	path    strMatch
	anyPath bool
}

func (r *Rule) fastShape() fastRule {
	if !r.fromIsKey || len(r.when) > 0 || len(r.to) > 1 {
		return fastRule{}
	}
	if len(r.to) == 0 {
		return fastRule{ok: true, anyPath: true}
	}
	o := r.to[0]
	if o.hosts.set || o.ports.set || (o.methods.set && o.methodMask == 0) || len(o.paths.neg) > 0 || len(o.paths.pos) > 1 {
		return fastRule{}
	}
	fr := fastRule{ok: true, methods: o.methodMask, anyPath: len(o.paths.pos) == 0}
	if !fr.anyPath {
		fr.path = o.paths.pos[0]
		if fr.path.kind == template {
			return fastRule{}
		}
	}
	return fr
}

func (fr *fastRule) matches(f *facts) bool {
	if fr.methods != 0 && methodBits[f.Method]&fr.methods == 0 {
		return false
	}
	return fr.anyPath || fr.path.matches(f.path)
}

func (ix *ruleIndex) add(r *Rule) {
	ix.n++
	d, keys, ok := r.indexKeys()
	if !ok {
		ix.rest = append(ix.rest, r)
		return
	}
	if ix.by[d] == nil {
		ix.by[d] = map[string]keyEntry{}
	}
	for _, k := range keys {
		e := ix.by[d][k]
		if len(e.rules) > 0 && e.rules[len(e.rules)-1] == r {
			continue
		}
		e.rules = append(e.rules, r)
		e.fast = fastRule{}
		if len(e.rules) == 1 {
			e.fast = r.fastShape()
		}
		ix.by[d][k] = e
	}
}

// computeKey fixes the rule's index dimension once, when it is compiled:
// rules are shared by every workload's index (and by successive sets), so
// they are never written while decisions read them.
func (r *Rule) computeKey() {
	d, _, ok := r.indexKeys()
	r.keyDim, r.keyed, r.fromIsKey = d, ok, ok && d <= dimNamespace && r.sourcesOnlyKey(d)
}

// sourcesOnlyKey: every source sets only the key dimension's field, with no
// not-values.
func (r *Rule) sourcesOnlyKey(d dim) bool {
	for _, s := range r.from {
		k := s.field(d)
		if len(k.neg) > 0 {
			return false
		}
		for _, f := range []*strField{&s.principals, &s.namespaces, &s.accounts, &s.trustDomains} {
			if f != k && f.set {
				return false
			}
		}
		if s.requestPrincipals.set || s.ips.set || s.remoteIPs.set {
			return false
		}
	}
	return true
}

// candidatesWithDims is candidates, also saying which dimension each keyed
// list came from (the unkeyed rest has none).
// The fast rule it returns is the last keyed entry's, when that entry is a
// single simple rule found under its own key.
func (ix *ruleIndex) candidatesWithDims(f *facts, lists [][]*Rule, dims []dim) ([][]*Rule, []dim, fastRule) {
	var keyBuf [2]string
	var fast fastRule
	for d := dim(0); d < numDims; d++ {
		if ix.by[d] == nil {
			continue
		}
		for _, k := range f.keys(d, keyBuf[:0]) {
			if e, ok := ix.by[d][k]; ok {
				lists = append(lists, e.rules)
				dims = append(dims, d)
				fast = e.fast
			}
		}
	}
	if len(ix.rest) > 0 {
		lists = append(lists, ix.rest)
	}
	return lists, dims, fast
}

// candidates gathers the lists to look at, each sorted by declaration order.
func (ix *ruleIndex) candidates(f *facts, lists [][]*Rule) [][]*Rule {
	var keyBuf [2]string
	for d := dim(0); d < numDims; d++ {
		if ix.by[d] == nil {
			continue
		}
		for _, k := range f.keys(d, keyBuf[:0]) {
			if e := ix.by[d][k]; len(e.rules) > 0 {
				lists = append(lists, e.rules)
			}
		}
	}
	if len(ix.rest) > 0 {
		lists = append(lists, ix.rest)
	}
	return lists
}

func (ix *ruleIndex) first(f *facts) *Rule {
	var buf [numDims + 2][]*Rule
	var dimBuf [numDims + 2]dim
	lists, dims, fast := ix.candidatesWithDims(f, buf[:0], dimBuf[:0])
	if fast.ok && len(lists) == 1 {
		// The one candidate is a simple rule under its key: decide from the entry.
		if fast.matches(f) {
			return lists[0][0]
		}
		return nil
	}
	var last *Rule
	for {
		r, best := nextInOrder(lists)
		if r == nil {
			return nil
		}
		// A rule found under its own key has its sources matched already.
		keyHit := r.fromIsKey && best < len(dims) && dims[best] == r.keyDim
		if r != last && r.matchesFrom(f, !keyHit) {
			return r
		}
		last = r
	}
}

// nextInOrder takes the rule of lowest declaration order off the fronts of
// lists (each in order) and says which list it came from; nil when all are
// empty.
func nextInOrder(lists [][]*Rule) (*Rule, int) {
	best := -1
	for i, l := range lists {
		if len(l) > 0 && (best < 0 || l[0].order < lists[best][0].order) {
			best = i
		}
	}
	if best < 0 {
		return nil, -1
	}
	r := lists[best][0]
	lists[best] = lists[best][1:]
	return r, best
}

func (ix *ruleIndex) all(f *facts) []*Rule {
	var buf [numDims + 2][]*Rule
	seen := map[*Rule]bool{}
	var out []*Rule
	for _, l := range ix.candidates(f, buf[:0]) {
		for _, r := range l {
			if !seen[r] && r.matches(f) {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	return out
}
