package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

const (
	benchSources      = 1000
	benchDestinations = 100
	benchRules        = 10_000
)

// reachBenchPolicies writes benchRules rules over benchDestinations
// workloads (ten namespaces of ten), as a mesh's policies are: each workload
// admits a few dozen callers by principal, some whole namespaces, a
// namespace's callers but one, and refuses some callers on some methods; the
// root namespace denies untrusted namespaces and lets monitoring scrape.
func reachBenchPolicies() string {
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	header := func(name, ns, app, action string) {
		fmt.Fprintf(&b, "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: %s, namespace: %s}\n"+
			"spec:\n  action: %s\n", name, ns, action)
		if app != "" {
			fmt.Fprintf(&b, "  selector: {matchLabels: {app: %s}}\n", app)
		}
		b.WriteString("  rules:\n")
	}
	header("deny-untrusted", RootNamespace, "", "DENY")
	b.WriteString("  - from: [{source: {namespaces: [\"untrusted-*\"]}}]\n")
	header("monitoring", RootNamespace, "", "ALLOW")
	b.WriteString("  - from: [{source: {principals: [cluster.local/ns/monitoring/sa/prometheus]}}]\n    to: [{operation: {methods: [GET], paths: [/metrics]}}]\n")
	perDest := (benchRules - 2) / benchDestinations
	for d := range benchDestinations {
		ns, app := benchNS(d), fmt.Sprintf("svc-%d", d)
		header(app+"-deny", ns, app, "DENY")
		for range perDest / 20 {
			fmt.Fprintf(&b, "  - from: [{source: {principals: [%s]}}]\n    to: [{operation: {methods: [DELETE]}}]\n", benchPrincipal(rng.IntN(benchSources)))
		}
		header(app+"-allow", ns, app, "ALLOW")
		for i := range perDest - perDest/20 {
			switch i % 20 {
			case 0:
				fmt.Fprintf(&b, "  - from: [{source: {namespaces: [%s]}}]\n    to: [{operation: {methods: [GET], paths: [\"/public/*\"]}}]\n", benchNS(rng.IntN(10)))
			case 1:
				fmt.Fprintf(&b, "  - from: [{source: {namespaces: [%s], notPrincipals: [%s]}}]\n    to: [{operation: {ports: [\"9090\"]}}]\n",
					benchNS(rng.IntN(10)), benchPrincipal(rng.IntN(benchSources)))
			default:
				fmt.Fprintf(&b, "  - from: [{source: {principals: [%s]}}]\n    to: [{operation: {methods: [GET, POST], paths: [\"/api/%d/*\"]}}]\n",
					benchPrincipal(rng.IntN(benchSources)), i)
			}
		}
	}
	return b.String()
}

func benchNS(i int) string { return fmt.Sprintf("ns-%d", i%10) }

func benchPrincipal(i int) string {
	return fmt.Sprintf("cluster.local/ns/%s/sa/caller-%d", benchNS(i), i)
}

func reachBenchWorld(b *testing.B) ([]*Policy, []Peer, []Workload) {
	docs, err := ParseFile("bench.yaml", []byte(reachBenchPolicies()))
	if err != nil {
		b.Fatal(err)
	}
	var policies []*Policy
	for _, d := range docs {
		policies = append(policies, d.Policy)
	}
	peers := make([]Peer, benchSources)
	for i := range peers {
		peers[i] = Peer{Principal: "spiffe://" + benchPrincipal(i), Addresses: []netip.Addr{netip.AddrFrom4([4]byte{127, 1, byte(i >> 8), byte(i)})}}
	}
	dests := make([]Workload, benchDestinations)
	for d := range dests {
		dests[d] = Workload{ID: fmt.Sprintf("spiffe://cluster.local/ns/%s/sa/svc-%d", benchNS(d), d), Labels: map[string]string{"app": fmt.Sprintf("svc-%d", d)},
			Service: fmt.Sprintf("svc-%d", d), Addresses: []netip.AddrPort{netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 2, 0, byte(d)}), 8080)}}
	}
	return policies, peers, dests
}

// BenchmarkReachableMatrix is what the xDS server does on a policy change:
// a new set, then every destination against every source (one op is the
// whole 1,000 × 100 matrix over 10,000 rules).
func BenchmarkReachableMatrix(b *testing.B) {
	policies, peers, dests := reachBenchWorld(b)
	reachable := 0
	for b.Loop() {
		b.StopTimer()
		s := NewSet(policies, nil)
		b.StartTimer()
		reachable = 0
		for _, w := range dests {
			d := s.Destination(w)
			for _, p := range peers {
				if d.From(p).Reachable {
					reachable++
				}
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(peers)*len(dests)), "ns/pair")
	b.ReportMetric(float64(reachable), "reachable-pairs")
}

// BenchmarkReachableFrom is one answer once the destination is prepared.
func BenchmarkReachableFrom(b *testing.B) {
	policies, peers, dests := reachBenchWorld(b)
	s := NewSet(policies, nil)
	prepared := make([]*Destination, len(dests))
	for i, w := range dests {
		prepared[i] = s.Destination(w)
	}
	i := 0
	for b.Loop() {
		prepared[i%len(prepared)].From(peers[(i*7)%len(peers)])
		i++
	}
}
