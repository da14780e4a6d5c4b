package monitoring

import (
	"reflect"
	"strings"
	"testing"
)

func TestSelectors(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []Selector
	}{
		{`up == 0`, []Selector{{Metric: "up"}}},
		{`up{job="meshward-authz"} == 0`, []Selector{{Metric: "up", Labels: []string{"job"}, Equal: map[string]string{"job": "meshward-authz"}}}},
		{`sum by (result) (rate(meshward_authz_decisions_total{job=~"$authz_job", result="deny"}[$__rate_interval]))`,
			[]Selector{{Metric: "meshward_authz_decisions_total", Labels: []string{"job", "result"}, Equal: map[string]string{"result": "deny"}}}},
		{`histogram_quantile(0.99, sum by (le, role) (rate(x_bucket[5m])))`, []Selector{{Metric: "x_bucket"}}},
		{`sum(rate(a[5m])) by (instance) / on (instance) group_left b`, []Selector{{Metric: "a"}, {Metric: "b"}}},
		{`a and on (x) b or c unless d`, []Selector{{Metric: "a"}, {Metric: "b"}, {Metric: "c"}, {Metric: "d"}}},
		{`{__name__="a", x!="1"}`, []Selector{{Metric: "a", Labels: []string{"x"}}}},
		{`rate(a[5m:30s] offset 1h) > bool 1e3`, []Selector{{Metric: "a"}}},
		{`absent(a{job='x'})`, []Selector{{Metric: "a", Labels: []string{"job"}, Equal: map[string]string{"job": "x"}}}},
		{`label_replace(a, "dst", "$1", "src", "(.*)")`, []Selector{{Metric: "a"}}},
		{"a # a comment naming b\n+ c", []Selector{{Metric: "a"}, {Metric: "c"}}},
		{`job:requests:rate5m > Inf`, []Selector{{Metric: "job:requests:rate5m"}}},
		{`a{x="${v:regex}"}[${w}]`, []Selector{{Metric: "a", Labels: []string{"x"}, Equal: map[string]string{"x": "${v:regex}"}}}},
	} {
		got, err := Selectors(c.expr)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %+v, want %+v", c.expr, got, c.want)
		}
	}
}

// Malformed expressions are refused with where and what, never read as
// something else (a dashboard whose query is broken must not pass).
func TestSelectorsRefuse(t *testing.T) {
	for _, c := range []struct{ expr, want string }{
		{`sum(rate(a[5m])`, "1 unclosed parentheses"},
		{`a)`, "offset 1: ')' without '('"},
		{`a{x="1"`, "offset 7"},
		{`a{x}`, "no matcher operator"},
		{`a{x=1}`, "wants a quoted value"},
		{`{x="1"}`, "without a metric name"},
		{`a{__name__="b"}`, "names two metrics"},
		{`rate(a[5m`, "'[' never closed"},
		{"a{x=\"1\n\"}", "runs past the line"},
		{`sum by x (a)`, "wants a list of labels"},
		{`sum by (x{) (a)`, "not a label name"},
		{`a ; b`, "unexpected ';'"},
		{"a{x=\"\xff\"}", "not UTF-8"},
		{`$`, "without a variable name"},
		{strings.Repeat("a+", MaxExpr), "at most"},
	} {
		_, err := Selectors(c.expr)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.40q: %v, want %q", c.expr, err, c.want)
		}
	}
}

// FuzzSelectors: any input gives selectors or an error, never a panic, and
// a selector always names a metric.
func FuzzSelectors(f *testing.F) {
	for _, s := range []string{`sum by (le) (rate(a_bucket{x=~"$v"}[$__rate_interval]))`, `{__name__="a"}`,
		`a and on (x) group_left b`, `"str" + 'x'`, "a # c\n", `a[5m:1m] offset 1h @ start()`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		sels, err := Selectors(expr)
		if err != nil {
			return
		}
		for _, s := range sels {
			if s.Metric == "" {
				t.Fatalf("%q: a selector without a metric", expr)
			}
		}
	})
}
