package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/meshward/meshward/internal/monitoring"
)

// prometheusOwn are the series Prometheus makes itself for every target.
var prometheusOwn = map[string]bool{"up": true}

// TestMonitoringQueriesExported: every metric the shipped Grafana dashboard
// and PrometheusRules query, every label their matchers compare and every
// value their equality matchers want, is exported by a running component. The authorizer (with EaaS), the xDS
// server and (as root) the eBPF agent run on loopback and go through what
// the panels and alerts watch: checks allowed, denied and shed, a policy
// change rejected then applied, a quarantine the xDS server acts on, moves
// acknowledged, refused (NACK) and left behind, a stream the guard ends,
// encrypted bodies, then the cryptor gone (refusals and plaintext
// forwards), and a shell in a watched container whose agent's verdict the
// authorizer refuses (a stale token). Then /metrics of each is
// scraped. A rule planted on a metric no component exports fails the same
// check.
func TestMonitoringQueriesExported(t *testing.T) {
	root := os.Geteuid() == 0
	m := startMonitored(t, root)
	m.driveChecks(t)
	m.drivePolicyReloads(t)
	m.driveXDS(t)
	m.driveVerdict(t)
	m.driveEaaS(t)
	if root {
		m.driveAgent(t)
	}
	exported := monitoring.Exported{}
	for component := range m.scrapes {
		text, err := m.scrape(component)
		if err != nil {
			t.Fatal(err)
		}
		if err := exported.Scraped(strings.NewReader(text)); err != nil {
			t.Fatalf("%s: %v", component, err)
		}
	}
	qs := shippedQueries(t)
	if !root {
		t.Log("not root: the eBPF agent does not run, and the agent's panels and alerts are not checked")
		qs = slices.DeleteFunc(qs, func(q monitoring.Query) bool { return strings.Contains(q.Expr, "meshward_agent_") })
	}
	missing, err := monitoring.Missing(qs, exported, prometheusOwn)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range missing {
		t.Error(s)
	}
	if len(missing) > 0 {
		t.Logf("exported: %s", exported)
	}
	planted := monitoring.Query{Where: "planted rule", Expr: `sum(increase(meshward_xds_nacks_total[10m])) > 0`}
	missing, err = monitoring.Missing(append(qs, planted), exported, prometheusOwn)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 1 || missing[0] != "planted rule: meshward_xds_nacks_total is not exported" {
		t.Fatalf("a rule on a metric nobody exports: %q", missing)
	}
}

func shippedQueries(t *testing.T) []monitoring.Query {
	t.Helper()
	dir := filepath.Join("..", "manifests", "monitoring")
	d, err1 := os.ReadFile(filepath.Join(dir, "dashboard.json"))
	r, err2 := os.ReadFile(filepath.Join(dir, "rules.yaml"))
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	dq, err := monitoring.Dashboard("dashboard.json", d)
	if err != nil {
		t.Fatal(err)
	}
	rq, err := monitoring.Rules("rules.yaml", r)
	if err != nil {
		t.Fatal(err)
	}
	return append(dq, rq...)
}
