package policy

import (
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
)

// headerUse is what a condition reads of request.headers: the headers it
// names, or all of them (it reads the map in a way that names none).
type headerUse struct {
	names []string
	all   bool
}

func (u *headerUse) add(name string) {
	name = strings.ToLower(name) // the map's keys are lower-case
	if !slices.Contains(u.names, name) {
		u.names = append(u.names, name)
	}
}

// reads says whether the use reads a header that omitted says was not sent.
func (u *headerUse) reads(omitted func(string) bool) bool {
	return u.all || slices.ContainsFunc(u.names, omitted)
}

// celHeaderUse walks a checked CEL expression for its uses of
// request.headers. Only request.headers["x"], request.headers.x,
// has(request.headers.x) and "x" in request.headers name a header; any other
// use of request.headers, or of request as a whole, may read every header.
func celHeaderUse(a *cel.Ast) headerUse {
	var u headerUse
	walkHeaders(a.NativeRep().Expr(), &u)
	return u
}

func walkHeaders(e celast.Expr, u *headerUse) {
	if isHeadersMap(e) || isIdent(e, "request") {
		u.all = true // reached only where no header is named
		return
	}
	switch e.Kind() {
	case celast.SelectKind:
		s := e.AsSelect()
		switch {
		case isIdent(s.Operand(), "request"): // request.method and its like
		case isHeadersMap(s.Operand()):
			u.add(s.FieldName())
		default:
			walkHeaders(s.Operand(), u)
		}
	case celast.CallKind:
		walkCall(e.AsCall(), u)
	case celast.ListKind:
		for _, el := range e.AsList().Elements() {
			walkHeaders(el, u)
		}
	case celast.MapKind:
		for _, en := range e.AsMap().Entries() {
			walkHeaders(en.AsMapEntry().Key(), u)
			walkHeaders(en.AsMapEntry().Value(), u)
		}
	case celast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			walkHeaders(f.AsStructField().Value(), u)
		}
	case celast.ComprehensionKind:
		c := e.AsComprehension()
		for _, x := range []celast.Expr{c.IterRange(), c.AccuInit(), c.LoopCondition(), c.LoopStep(), c.Result()} {
			walkHeaders(x, u)
		}
	}
}

func walkCall(c celast.CallExpr, u *headerUse) {
	args := c.Args()
	if len(args) == 2 {
		key, lit := stringLiteral(args[1])
		switch {
		case c.FunctionName() == operators.Index && isIdent(args[0], "request") && lit: // request["method"]
			return
		case c.FunctionName() == operators.Index && isHeadersMap(args[0]) && lit:
			u.add(key)
			return
		}
		if key, lit := stringLiteral(args[0]); lit && c.FunctionName() == operators.In && isHeadersMap(args[1]) {
			u.add(key)
			return
		}
	}
	if c.IsMemberFunction() {
		walkHeaders(c.Target(), u)
	}
	for _, a := range args {
		walkHeaders(a, u)
	}
}

// isHeadersMap: request.headers or request["headers"].
func isHeadersMap(e celast.Expr) bool {
	switch e.Kind() {
	case celast.SelectKind:
		s := e.AsSelect()
		return !s.IsTestOnly() && s.FieldName() == "headers" && isIdent(s.Operand(), "request")
	case celast.CallKind:
		c := e.AsCall()
		if c.FunctionName() != operators.Index || len(c.Args()) != 2 {
			return false
		}
		key, lit := stringLiteral(c.Args()[1])
		return lit && key == "headers" && isIdent(c.Args()[0], "request")
	}
	return false
}

func isIdent(e celast.Expr, name string) bool {
	return e.Kind() == celast.IdentKind && e.AsIdent() == name
}

func stringLiteral(e celast.Expr) (string, bool) {
	if e.Kind() != celast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}

// HeaderNames lists, sorted, every request header a policy or condition of
// the set names (AUDIT and dry-run policies included: the filter sends these
// headers first), and says whether some condition reads headers it does
// not name.
func (s *Set) HeaderNames() (names []string, all bool) {
	for _, ps := range s.byNS {
		for _, p := range ps {
			for _, r := range p.Rules {
				names = append(names, r.headerNames()...)
			}
		}
	}
	for _, st := range s.settings {
		for _, c := range st.Conditions {
			names = append(names, c.headers.names...)
			all = all || c.headers.all
		}
	}
	slices.Sort(names)
	return slices.Compact(names), all
}

func (r *Rule) headerNames() []string {
	var names []string
	for _, c := range r.when {
		if c.key == keyHeader {
			names = append(names, c.header)
		}
	}
	return names
}

// ReadsOmittedHeader names the first enforced rule or condition that a
// decision on r's destination may evaluate and that reads a header omitted
// says the check did not carry (a condition that reads headers it does not
// name reads them all). AUDIT and dry-run policies are left out: they
// never change a decision.
func (s *Set) ReadsOmittedHeader(r *Request, omitted func(name string) bool) (string, bool) {
	for _, c := range s.Conditions(r.DestinationNS()) {
		if c.headers.reads(omitted) {
			return c.Name, true
		}
	}
	w := s.forWorkload(r)
	for _, ix := range []*ruleIndex{&w.deny, &w.allow} {
		if rule := ix.readsHeader(omitted); rule != nil {
			return rule.Name(), true
		}
	}
	return "", false
}

// readsHeader returns the first rule of the index in declaration order
// with a `when` on a header omitted says was not sent.
func (ix *ruleIndex) readsHeader(omitted func(string) bool) *Rule {
	var first *Rule
	check := func(rules []*Rule) {
		for _, r := range rules {
			if (first == nil || r.order < first.order) && slices.ContainsFunc(r.headerNames(), omitted) {
				first = r
			}
		}
	}
	for _, m := range ix.by {
		for _, e := range m {
			check(e.rules)
		}
	}
	check(ix.rest)
	return first
}
