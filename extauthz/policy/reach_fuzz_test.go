package policy

import (
	"testing"

	securityv1beta1 "istio.io/api/security/v1beta1"
	typev1beta1 "istio.io/api/type/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FuzzReachableConsistent: for random small policy sets, callers and
// destinations, whenever Reachable says no, Evaluate denies every request of
// the battery (so whenever Evaluate allows one, Reachable says yes).
func FuzzReachableConsistent(f *testing.F) {
	for _, seed := range [][]byte{
		{},
		{1, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
		{3, 1, 1, 2, 0, 3, 1, 1, 1, 2, 2, 2, 0, 5, 7, 1, 3, 9, 4, 4, 8, 2},
		{2, 0, 1, 0, 2, 1, 4, 2, 1, 0, 3, 6, 1, 1, 2, 9, 0, 0, 1, 2, 3, 1, 5},
		[]byte("a DENY, an ALLOW, some conditions and a few callers"),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &gen{data: data}
		s := g.set()
		for range 2 {
			src, dst := fuzzPeers[g.pick(len(fuzzPeers))], fuzzWorkloads[g.pick(len(fuzzWorkloads))]
			got := s.Reachable(src, dst)
			if got.Reachable != (got.Reason == ReasonAllowed || got.Reason == ReasonAllowedByDefault) || got.String() == "" {
				t.Fatalf("Reachable(%s, %s) = %+v: answer and reason disagree", src.Principal, dst.ID, got)
			}
			checkConsistent(t, s, src, dst, got, 400)
		}
	})
}

var (
	fuzzPeers = []Peer{
		peer(frontend, "127.0.0.5"), peer(intruder, "127.0.1.5"), peer(payments, "127.0.0.7", "127.0.0.66"),
		peer(frontend), peer(""), peer("spiffe://other.td/ns/shop/sa/frontend", "127.0.0.5"), peer(orders, "127.0.0.0"),
		peer("spiffe://cluster.local/ns/dmz/sa/web/ns/shop/sa/frontend", "127.0.0.5"),
	}
	fuzzWorkloads = []Workload{
		workload("orders", "127.0.0.10:8080"), workload("orders", "127.0.0.10:8080", "127.0.0.10:9090"), workload("orders"),
		workload("payments", ":9090"), inNamespace(workload("orders", "127.0.0.20:8080"), "dmz"),
	}
	fuzzPrincipals = []string{"cluster.local/ns/shop/sa/frontend", "cluster.local/ns/shop/*", "*/sa/web", "*", "cluster.local/ns/dmz/sa/web"}
	fuzzNamespaces = []string{"shop", "dmz", "s*", "*", "*m*"}
	fuzzAccounts   = []string{"frontend", "dmz/web", "shop/payments"}
	fuzzDomains    = []string{"cluster.local", "other.td", "cluster*"}
	fuzzIPs        = []string{"127.0.0.0/24", "127.0.0.5", "127.0.1.0/24", "127.0.0.66", "127.0.0.0/16"}
	fuzzJWTs       = []string{"iss/sub", "*", "iss/*", "*/sub"}
	fuzzMethods    = []string{"GET", "POST", "DELETE", "*", "P*"}
	fuzzPaths      = []string{"/a", "/a/*", "*/b", "/v/{*}/c", "*", "/a/{**}"}
	fuzzHosts      = []string{"orders.shop", "*.shop", "orders*", "orders.shop:8080"}
	fuzzPorts      = []string{"8080", "9090", "9091"}
	fuzzConditions = []struct {
		key    string
		values []string
	}{
		{"request.headers[x-a]", []string{"yes", "no", "y*", "*"}},
		{"source.ip", fuzzIPs}, {"remote.ip", fuzzIPs}, {"source.namespace", fuzzNamespaces},
		{"source.principal", fuzzPrincipals}, {"source.serviceAccount", fuzzAccounts}, {"source.trustDomain", fuzzDomains},
		{"request.auth.principal", fuzzJWTs}, {"destination.ip", []string{"127.0.0.10", "127.0.0.0/24", "127.0.0.20"}},
		{"destination.port", fuzzPorts}, {"connection.sni", fuzzHosts}, {"request.headers[:method]", fuzzMethods},
		{"request.headers[:authority]", fuzzHosts}, {"request.headers[:path]", []string{"/a", "/a/*", "*/b"}},
	}
)

// gen turns fuzz bytes into choices; past the end every choice is 0.
type gen struct {
	data []byte
	i    int
}

func (g *gen) pick(n int) int {
	if g.i >= len(g.data) {
		return 0
	}
	g.i++
	return int(g.data[g.i-1]) % n
}

// values: mostly none (nil), else one or two of vocab; a field given
// values narrows a rule, and a rule narrowed everywhere matches nothing.
func (g *gen) values(vocab []string) []string {
	var out []string
	for range max(0, g.pick(6)-3) {
		out = append(out, vocab[g.pick(len(vocab))])
	}
	return out
}

// some is values, but at least one: what a field that must not be empty gets.
func (g *gen) some(vocab []string) []string {
	if v := g.values(vocab); len(v) > 0 {
		return v
	}
	return vocab[g.pick(len(vocab)):][:1]
}

func (g *gen) set() *Set {
	var policies []*Policy
	for i := range 1 + g.pick(5) {
		if p, err := Compile(g.policy(i)); err == nil { // what does not compile is left out
			policies = append(policies, p)
		}
	}
	var settings []*Settings
	switch g.pick(4) {
	case 1:
		settings = append(settings, &Settings{Namespace: "shop", DefaultAction: Allow})
	case 2:
		settings = append(settings, &Settings{Namespace: "shop", HostsMatchAnyPort: true})
	case 3:
		settings = append(settings, &Settings{Namespace: "dmz", DefaultAction: Allow, HostsMatchAnyPort: true})
	}
	return NewSet(policies, settings)
}

func (g *gen) policy(i int) *securityv1.AuthorizationPolicy {
	ap := &securityv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p" + string(rune('0'+i)),
		Namespace: []string{"shop", "shop", RootNamespace, "dmz"}[g.pick(4)]}}
	spec := &ap.Spec
	spec.Action = []securityv1beta1.AuthorizationPolicy_Action{securityv1beta1.AuthorizationPolicy_ALLOW,
		securityv1beta1.AuthorizationPolicy_ALLOW, securityv1beta1.AuthorizationPolicy_ALLOW,
		securityv1beta1.AuthorizationPolicy_DENY, securityv1beta1.AuthorizationPolicy_DENY,
		securityv1beta1.AuthorizationPolicy_AUDIT}[g.pick(6)]
	if g.pick(4) == 3 { // not 0: past the end of the input, policies are enforced
		ap.Annotations = map[string]string{DryRunAnnotation: "true"}
	}
	switch g.pick(5) {
	case 1:
		spec.Selector = &typev1beta1.WorkloadSelector{MatchLabels: map[string]string{"app": "orders"}}
	case 2:
		spec.Selector = &typev1beta1.WorkloadSelector{MatchLabels: map[string]string{"app": "payments"}}
	case 3:
		spec.TargetRefs = []*typev1beta1.PolicyTargetReference{{Kind: "Service", Name: "orders"}}
	}
	for range g.pick(4) {
		spec.Rules = append(spec.Rules, g.rule())
	}
	return ap
}

func (g *gen) rule() *securityv1beta1.Rule {
	r := &securityv1beta1.Rule{}
	for range g.pick(3) {
		s := &securityv1beta1.Source{Principals: g.values(fuzzPrincipals), NotPrincipals: g.values(fuzzPrincipals),
			Namespaces: g.values(fuzzNamespaces), NotNamespaces: g.values(fuzzNamespaces),
			TrustDomains: g.values(fuzzDomains), IpBlocks: g.values(fuzzIPs), NotIpBlocks: g.values(fuzzIPs),
			RequestPrincipals: g.values(fuzzJWTs), NotRequestPrincipals: g.values(fuzzJWTs),
			RemoteIpBlocks: g.values(fuzzIPs)}
		if g.pick(3) == 0 { // serviceAccounts go without principals and namespaces
			s.Principals, s.NotPrincipals, s.Namespaces, s.NotNamespaces = nil, nil, nil, nil
			s.ServiceAccounts, s.NotServiceAccounts = g.some(fuzzAccounts), g.values(fuzzAccounts)
		} else if g.pick(2) == 0 {
			s.Principals = g.some(fuzzPrincipals)
		} else {
			s.Namespaces = g.some(fuzzNamespaces)
		}
		r.From = append(r.From, &securityv1beta1.Rule_From{Source: s})
	}
	for range g.pick(3) {
		r.To = append(r.To, &securityv1beta1.Rule_To{Operation: &securityv1beta1.Operation{
			Methods: g.values(fuzzMethods), NotMethods: g.values(fuzzMethods), Paths: g.values(fuzzPaths),
			NotPaths: g.values(fuzzPaths), Hosts: g.values(fuzzHosts), NotHosts: g.values(fuzzHosts),
			Ports: g.values(fuzzPorts), NotPorts: g.values(fuzzPorts)}})
		if op := r.To[len(r.To)-1].Operation; len(op.Methods)+len(op.NotMethods)+len(op.Paths)+len(op.NotPaths)+
			len(op.Hosts)+len(op.NotHosts)+len(op.Ports)+len(op.NotPorts) == 0 {
			op.Paths = g.some(fuzzPaths)
		}
	}
	for range g.pick(3) {
		c := fuzzConditions[g.pick(len(fuzzConditions))]
		cond := &securityv1beta1.Condition{Key: c.key, Values: g.values(c.values), NotValues: g.values(c.values)}
		if len(cond.Values)+len(cond.NotValues) == 0 {
			cond.Values = g.some(c.values)
		}
		r.When = append(r.When, cond)
	}
	return r
}
