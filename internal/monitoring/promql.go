// Package monitoring reads meshward's Grafana dashboard and PrometheusRules
// and checks that every series they query is one a component exports.
//
// It extracts selectors from PromQL itself rather than importing
// Prometheus' parser: that module is the Prometheus server's, and its
// requirements would raise the Kubernetes modules of every meshward build.
package monitoring

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxExpr bounds an expression: dashboards and rules hold short ones, and a
// file that does not is not one of ours.
const MaxExpr = 64 << 10

// Selector is one vector selector: the metric it names, the labels its
// matchers compare, and the values its equality matchers want.
type Selector struct {
	Metric string
	Labels []string
	Equal  map[string]string // label -> value, for `=` matchers
}

// keywords are identifiers that are never metric names. The grouping ones
// are followed by a parenthesized list of label names.
var keywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"bool": true, "and": true, "or": true, "unless": true, "offset": true, "atan2": true, "inf": true, "nan": true,
	// Aggregation operators are keywords too: `sum by (x) (...)` names no
	// metric sum.
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true, "count": true,
	"count_values": true, "bottomk": true, "topk": true, "quantile": true, "limitk": true, "limit_ratio": true,
}

var grouping = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

// Selectors returns the vector selectors of a PromQL expression. Grafana
// variables ($name, ${name}) are accepted wherever PromQL takes a duration
// or a string.
func Selectors(expr string) ([]Selector, error) {
	if len(expr) > MaxExpr {
		return nil, fmt.Errorf("expression of %d bytes: at most %d", len(expr), MaxExpr)
	}
	if !utf8.ValidString(expr) {
		return nil, fmt.Errorf("expression is not UTF-8")
	}
	l := &lexer{src: expr}
	var out []Selector
	depth := 0
	for {
		t, err := l.next()
		if err != nil {
			return nil, err
		}
		switch t.kind {
		case tEOF:
			if depth != 0 {
				return nil, fmt.Errorf("offset %d: %d unclosed parentheses", len(expr), depth)
			}
			return out, nil
		case tOpen:
			depth++
		case tClose:
			if depth--; depth < 0 {
				return nil, fmt.Errorf("offset %d: ')' without '('", t.pos)
			}
		case tIdent:
			s, ok, err := l.afterIdent(t)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, s)
			}
		case tBrace:
			s, err := l.matchers(t.pos, "")
			if err != nil {
				return nil, err
			}
			if s.Metric == "" {
				return nil, fmt.Errorf("offset %d: a selector without a metric name", t.pos)
			}
			out = append(out, s)
		}
	}
}

// afterIdent decides what an identifier is from what follows it: a call,
// a grouping clause, a keyword, or a metric name with optional matchers.
func (l *lexer) afterIdent(t token) (Selector, bool, error) {
	if grouping[strings.ToLower(t.text)] {
		return Selector{}, false, l.labelList(t)
	}
	if keywords[strings.ToLower(t.text)] {
		return Selector{}, false, nil
	}
	l.skipSpace()
	if l.peek() == '(' {
		return Selector{}, false, nil // a function or an aggregation
	}
	if l.peek() == '{' {
		l.pos++
		s, err := l.matchers(t.pos, t.text)
		return s, err == nil, err
	}
	return Selector{Metric: t.text}, true, nil
}

// labelList skips the "(a, b)" after by, without, on, ignoring or
// group_left/right (where it is optional).
func (l *lexer) labelList(kw token) error {
	l.skipSpace()
	if l.peek() != '(' {
		if kw.text == "group_left" || kw.text == "group_right" {
			return nil
		}
		return fmt.Errorf("offset %d: %q wants a list of labels", kw.pos, kw.text)
	}
	l.pos++
	for {
		t, err := l.next()
		if err != nil {
			return err
		}
		switch t.kind {
		case tClose:
			return nil
		case tIdent, tComma:
		default:
			return fmt.Errorf("offset %d: %q's list holds %q, not a label name", t.pos, kw.text, t.text)
		}
	}
}

// matchers reads `label op "value", ...}` after a '{'.
func (l *lexer) matchers(start int, metric string) (Selector, error) {
	s := Selector{Metric: metric}
	for {
		t, err := l.next()
		if err != nil {
			return s, err
		}
		switch t.kind {
		case tCloseBrace:
			slices.Sort(s.Labels)
			s.Labels = slices.Compact(s.Labels)
			return s, nil
		case tComma:
			continue
		case tIdent, tString:
		default:
			return s, fmt.Errorf("offset %d: selector at %d: %q where a label name belongs", t.pos, start, t.text)
		}
		name := t.text
		op, err := l.matchOp(start)
		if err != nil {
			return s, err
		}
		v, err := l.next()
		if err != nil {
			return s, err
		}
		if v.kind != tString {
			return s, fmt.Errorf("offset %d: selector at %d: label %q wants a quoted value", v.pos, start, name)
		}
		if name == "__name__" {
			if s.Metric != "" && s.Metric != v.text {
				return s, fmt.Errorf("offset %d: selector names two metrics", start)
			}
			s.Metric = v.text
			continue
		}
		s.Labels = append(s.Labels, name)
		if op == "=" {
			if s.Equal == nil {
				s.Equal = map[string]string{}
			}
			s.Equal[name] = v.text
		}
	}
}

func (l *lexer) matchOp(start int) (string, error) {
	l.skipSpace()
	for _, op := range []string{"=~", "!~", "!=", "="} {
		if strings.HasPrefix(l.src[l.pos:], op) {
			l.pos += len(op)
			return op, nil
		}
	}
	return "", fmt.Errorf("offset %d: selector at %d: no matcher operator", l.pos, start)
}
