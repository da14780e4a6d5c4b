package policy

import "strings"

// Satisfiability of a field whose value the request chooses: matchSome if a
// value could match, matchNone if none can. It may say matchSome of a field
// no value matches (it looks only at the simple ways a not-value covers a value),
// never the other way round, so a reachable pair is never missed.

func (f *strField) satisfiable() tri {
	if len(f.pos) == 0 {
		return matchSome // a value outside every not-value, or none at all ("")
	}
	for _, m := range f.pos {
		if !coveredByAny(m, f.neg) {
			return matchSome
		}
	}
	return matchNone
}

func coveredByAny(m strMatch, neg []strMatch) bool {
	for _, n := range neg {
		if covers(n, m) {
			return true
		}
	}
	return false
}

// covers: every value m matches, n matches too. Templates and globs are
// never taken as covered.
func covers(n, m strMatch) bool {
	switch {
	case m.kind == exact:
		return n.matches(m.value)
	case n.kind == presence:
		return m.kind == prefix || m.kind == suffix || m.kind == presence // all match only non-empty values
	case n.kind == prefix && m.kind == prefix:
		return strings.HasPrefix(m.value, n.value)
	case n.kind == suffix && m.kind == suffix:
		return strings.HasSuffix(m.value, n.value)
	}
	return false
}

func (f *ipField) satisfiable() tri {
	if len(f.pos) == 0 {
		return matchSome
	}
	for _, p := range f.pos {
		covered := false
		for _, n := range f.neg {
			if n.Bits() <= p.Bits() && n.Contains(p.Addr()) {
				covered = true
				break
			}
		}
		if !covered {
			return matchSome
		}
	}
	return matchNone
}

func (f *portField) satisfiable() tri {
	if len(f.pos) == 0 {
		return matchSome
	}
	for p := range f.pos {
		if !f.neg[p] {
			return matchSome
		}
	}
	return matchNone
}
