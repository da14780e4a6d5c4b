package monitoring

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Dir is where the shipped dashboard and rules are.
const dir = "../../manifests/monitoring"

func shipped(t *testing.T) []Query {
	t.Helper()
	d, err := os.ReadFile(filepath.Join(dir, "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := os.ReadFile(filepath.Join(dir, "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dq, err := Dashboard("dashboard.json", d)
	if err != nil {
		t.Fatal(err)
	}
	rq, err := Rules("rules.yaml", r)
	if err != nil {
		t.Fatal(err)
	}
	return append(dq, rq...)
}

// Every shipped expression parses and selects at least one meshward metric
// (or Prometheus' own up).
func TestShippedFilesParse(t *testing.T) {
	qs := shipped(t)
	names, err := Names(qs)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) < 30 || len(names) < 30 {
		t.Fatalf("%d queries naming %d metrics: the dashboard or rules lost their panels", len(qs), len(names))
	}
	for _, n := range names {
		if n != "up" && !strings.HasPrefix(n, "meshward_") {
			t.Errorf("%s is neither meshward's nor Prometheus' up", n)
		}
	}
}

func TestDashboardRefuses(t *testing.T) {
	ds := `{"templating":{"list":[{"name":"datasource","type":"datasource"}]},"panels":[`
	for _, c := range []struct{ json, want string }{
		{`{"panels":[]}`, "no datasource variable"},
		{ds + `{"id":1,"title":"a","type":"timeseries","targets":[{"refId":"A","expr":"up"}]}]}`, "does not use the datasource variable"},
		{ds + `{"id":1,"type":"row"},{"id":1,"type":"row"}]}`, "panel id 1 used twice"},
		{ds + `{"id":1,"title":"a","datasource":{"uid":"${datasource}"},"targets":[{"refId":"A","expr":" "}]}]}`, "target A has no expression"},
		{`{"panels":`, "d.json: unexpected end"},
	} {
		if _, err := Dashboard("d.json", []byte(c.json)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.json, err, c.want)
		}
	}
}

func TestRulesRefuse(t *testing.T) {
	head := "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nspec:\n  groups:\n  - name: g\n    rules:\n"
	ok := "      labels: {severity: warning}\n      annotations: {summary: s, description: d}\n"
	for _, c := range []struct{ yaml, want string }{
		{"apiVersion: v1\nkind: ConfigMap\n", "want monitoring.coreos.com/v1 PrometheusRule"},
		{head + "    - alert: A\n      expr: up == 0\n      for: 5 minutes\n" + ok, "not a Prometheus duration"},
		{head + "    - alert: A\n      expr: up == 0\n      labels: {severity: high}\n", `severity "high"`},
		{head + "    - alert: A\n      expr: up == 0\n      labels: {severity: info}\n", "summary and description"},
		{head + "    - alert: A\n      record: r\n      expr: up\n", "not both or neither"},
		{head + "    - alert: A\n      expr: up\n" + ok + "    - alert: A\n      expr: up\n" + ok, "named twice"},
		{head + "    - alert: A\n      expr: up\n      fro: 1m\n" + ok, "field fro not found"},
		{head, "no rules"},
	} {
		if _, err := Rules("r.yaml", []byte(c.yaml)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.yaml, err, c.want)
		}
	}
}

// A query naming a metric no scrape offered, or a label its series lack,
// is reported; a histogram's _bucket has le.
func TestMissing(t *testing.T) {
	e := Exported{}
	err := e.Scraped(strings.NewReader(`# TYPE a_seconds histogram
a_seconds_bucket{role="x",le="1"} 1
a_seconds_bucket{role="x",le="+Inf"} 1
a_seconds_sum{role="x"} 1
a_seconds_count{role="x"} 1
# TYPE b_total counter
b_total{result="ok"} 3
`))
	if err != nil {
		t.Fatal(err)
	}
	qs := []Query{
		{"ok", `histogram_quantile(0.99, sum by (le, role) (rate(a_seconds_bucket{role="x", job="j"}[5m]))) + a_seconds_count`},
		{"typo", `rate(b_totl[5m])`},
		{"label", `b_total{reason="x"}`},
		{"value", `b_total{result="nok"} + b_total{result="ok"} + b_total{result=~"n.*"} + b_total{result="$v"}`},
		{"external", `up == 0`},
	}
	got, err := Missing(qs, e, map[string]bool{"up": true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`label: b_total has no label "reason"`, "typo: b_totl is not exported", `value: b_total{result="nok"} was never seen`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := Missing([]Query{{"bad", "sum("}}, e, nil); err == nil || !strings.Contains(err.Error(), "bad: offset") {
		t.Fatalf("a broken query: %v", err)
	}
}
