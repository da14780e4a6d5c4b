package policy

import (
	"net/netip"
	"strings"
	"testing"
)

func peer(principal string, addrs ...string) Peer {
	p := Peer{Principal: principal}
	for _, a := range addrs {
		p.Addresses = append(p.Addresses, netip.MustParseAddr(a))
	}
	return p
}

// workload is an app=<name> workload of namespace shop behind service
// <name>, reached at addrs ("ip:port"; ":port" leaves the address unknown).
func workload(name string, addrs ...string) Workload {
	w := Workload{ID: "spiffe://cluster.local/ns/shop/sa/" + name, Labels: map[string]string{"app": name}, Service: name}
	for _, a := range addrs {
		if strings.HasPrefix(a, ":") {
			w.Addresses = append(w.Addresses, netip.AddrPortFrom(netip.Addr{}, netip.MustParseAddrPort("0.0.0.0"+a).Port()))
			continue
		}
		w.Addresses = append(w.Addresses, netip.MustParseAddrPort(a))
	}
	return w
}

func inNamespace(w Workload, ns string) Workload {
	w.ID = "spiffe://cluster.local/ns/" + ns + "/sa/" + w.Labels["app"]
	return w
}

func withLabel(w Workload, k, v string) Workload {
	w.Labels[k] = v
	return w
}

func ap(meta, spec string) string {
	return "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: " + meta + "\nspec:\n" + spec + "\n"
}

var (
	pFrontend = peer(frontend, "127.0.0.5")
	pPayments = peer(payments, "127.0.0.7")
	pOrders   = peer(orders, "127.0.0.8")
	pWeb      = peer(intruder, "127.0.1.5")
	wOrders   = workload("orders", "127.0.0.10:8080")
	wPayments = workload("payments", "127.0.0.11:8080")
)

// Istio's builder tables (deny-and-allow, multiple-policies, allow-full-rule)
// in meshward's namespaces, and the shapes between them that decide
// reachability: a DENY that matches every request or only some, ports the
// destination does not serve, not-forms that leave nothing, caller addresses
// known or not.
var (
	denyAndAllow = ap("{name: httpbin-deny, namespace: shop}", "  action: DENY\n  rules: [{from: [{source: {principals: [deny]}}]}]") +
		ap("{name: httpbin-allow, namespace: shop}", "  rules: [{from: [{source: {principals: [allow]}}]}]")
	multiplePolicies = ap("{name: httpbin-1, namespace: shop}", "  selector: {matchLabels: {app: httpbin, version: v1}}\n  rules: [{to: [{operation: {methods: [GET, POST]}}]}]") +
		ap("{name: httpbin-4, namespace: shop}", "  rules: [{to: [{operation: {ports: [\"80\", \"90\"]}}]}]") +
		ap("{name: httpbin-5, namespace: shop}", "  rules: [{from: [{source: {principals: [principals1, principals2]}}]}]") +
		ap("{name: httpbin-7, namespace: shop}", "  rules: [{from: [{source: {namespaces: [namespaces1, namespaces2]}}]}]") +
		ap("{name: httpbin-8, namespace: shop}", "  rules: [{from: [{source: {ipBlocks: [127.0.3.4, 127.0.6.0/24]}}]}]") +
		ap("{name: httpbin-9, namespace: shop}", "  rules: [{when: [{key: \"request.headers[X-abc]\", values: [abc1, abc2]}]}]")
	serviceAccounts = ap("{name: accounts, namespace: shop}", "  rules: [{from: [{source: {serviceAccounts: [my-ns/my-sa, sa-only], notServiceAccounts: [my-ns/my-sa-not, sa-not-only]}}]}]")
	namespaceForms  = ap("{name: namespaces, namespace: shop}", "  rules: [{from: [{source: {namespaces: [ns-prefix-*, \"*-ns-suffix\", team-*-prod], notNamespaces: [ns-prefix-bad]}}]}]")
	principalNot    = ap("{name: principals, namespace: shop}", "  rules: [{from: [{source: {principals: [\"*\"], notPrincipals: [cluster.local/ns/dmz/*], trustDomains: [cluster.local]}}]}]")
	ipBlocks        = ap("{name: ips, namespace: shop}", "  rules: [{from: [{source: {ipBlocks: [127.0.0.0/24], notIpBlocks: [127.0.0.66]}}]}]") +
		ap("{name: deny-ips, namespace: shop}", "  action: DENY\n  rules: [{from: [{source: {ipBlocks: [127.0.1.0/24]}}]}]")
	denyOnRequests = ap("{name: allow, namespace: shop}", "  rules: [{from: [{source: {namespaces: [shop, dmz]}}]}]") +
		ap("{name: deny-some, namespace: shop}", "  action: DENY\n  rules:\n"+
			"  - {from: [{source: {namespaces: [dmz]}}], to: [{operation: {methods: [DELETE]}}]}\n"+
			"  - {from: [{source: {namespaces: [dmz]}}], to: [{operation: {notPaths: [/healthz]}}]}\n"+
			"  - {from: [{source: {namespaces: [dmz]}}], when: [{key: \"request.headers[x-a]\", notValues: [ok]}]}\n"+
			"  - {from: [{source: {namespaces: [dmz], requestPrincipals: [\"*\"]}}]}\n"+
			"  - {from: [{source: {namespaces: [dmz], remoteIpBlocks: [127.0.9.0/24]}}]}")
	denyEverything = ap("{name: allow, namespace: shop}", "  rules: [{from: [{source: {namespaces: [shop, dmz]}}]}]") +
		ap("{name: deny-dmz, namespace: shop}", "  action: DENY\n  rules: [{from: [{source: {namespaces: [dmz]}}]}]") +
		ap("{name: only-frontend-pays, namespace: shop}", "  selector: {matchLabels: {app: payments}}\n  action: DENY\n  rules: [{from: [{source: {notPrincipals: [cluster.local/ns/shop/sa/frontend]}}]}]")
	meshDenyPort = ap("{name: allow-dmz, namespace: shop}", "  rules: [{from: [{source: {namespaces: [dmz]}}]}]") +
		ap("{name: mesh-deny-dmz, namespace: istio-system}", "  action: DENY\n  rules: [{from: [{source: {namespaces: [dmz]}}], when: [{key: destination.port, notValues: [\"9090\"]}]}]")
	portsAndIPs = ap("{name: orders-9090, namespace: shop}", "  selector: {matchLabels: {app: orders}}\n  rules:\n"+
		"  - {to: [{operation: {ports: [\"9090\"]}}]}\n  - {when: [{key: destination.ip, values: [127.0.0.20]}]}\n"+
		"  - {to: [{operation: {ports: [\"9091\"]}}], when: [{key: destination.port, values: [\"8080\"]}]}") +
		ap("{name: payments, namespace: shop}", "  selector: {matchLabels: {app: payments}}\n  rules: [{from: [{source: {namespaces: [shop]}}]}]") +
		ap("{name: payments-not-8080, namespace: shop}", "  selector: {matchLabels: {app: payments}}\n  action: DENY\n  rules: [{to: [{operation: {ports: [\"8080\"]}}]}]")
	unsatisfiable = ap("{name: nothing, namespace: shop}", "  selector: {matchLabels: {app: orders}}\n  rules:\n"+
		"  - {to: [{operation: {paths: [/admin/*], notPaths: [/admin*]}}]}\n  - {to: [{operation: {methods: [GET], notMethods: [GET]}}]}\n"+
		"  - {to: [{operation: {ports: [\"8080\"], notPorts: [\"8080\"]}}]}\n  - {to: [{operation: {hosts: [orders.shop], notHosts: [\"*.shop\"]}}]}\n"+
		"  - {from: [{source: {ipBlocks: [127.0.0.0/24], notIpBlocks: [127.0.0.0/16]}}]}\n"+
		"  - {when: [{key: \"request.headers[x-a]\", values: [\"a*\"], notValues: [\"*\"]}]}") +
		ap("{name: something, namespace: shop}", "  selector: {matchLabels: {app: payments}}\n  rules: [{to: [{operation: {paths: [/admin/*], notPaths: [/admin/secret]}}]}]")
	dryRunAndAudit = ap("{name: dry-deny, namespace: shop, annotations: {istio.io/dry-run: \"true\"}}", "  action: DENY\n  rules: [{from: [{source: {namespaces: [dmz]}}]}]") +
		ap("{name: allow, namespace: shop}", "  selector: {matchLabels: {app: orders}}\n  rules: [{from: [{source: {namespaces: [dmz]}}]}]") +
		ap("{name: dry-allow, namespace: shop, annotations: {istio.io/dry-run: \"true\"}}", "  selector: {matchLabels: {app: payments}}\n  rules: [{from: [{source: {namespaces: [dmz]}}]}]") +
		ap("{name: audit, namespace: shop}", "  selector: {matchLabels: {app: payments}}\n  action: AUDIT\n  rules: [{from: [{source: {namespaces: [dmz]}}]}]")
	selection = ap("{name: allow-nothing, namespace: shop}", "  selector: {matchLabels: {app: orders}}\n  action: ALLOW") +
		ap("{name: by-service, namespace: shop}", "  targetRefs: [{kind: Service, name: payments}]\n  rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/orders]}}]}]") +
		ap("{name: mesh-frontend, namespace: istio-system}", "  selector: {matchLabels: {app: catalog}}\n  rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/frontend]}}]}]") +
		"---\napiVersion: meshward.io/v1alpha1\nkind: MeshwardPolicy\nmetadata: {name: defaults, namespace: legacy}\nspec: {defaultAction: ALLOW}\n" +
		ap("{name: legacy-deny-dmz, namespace: legacy}", "  action: DENY\n  rules: [{from: [{source: {namespaces: [dmz]}}]}]")
	requestFacts = ap("{name: callers, namespace: shop}", "  selector: {matchLabels: {app: orders}}\n  rules:\n"+
		"  - {from: [{source: {principals: [cluster.local/ns/shop/sa/frontend], requestPrincipals: [\"https://issuer.example/*\"]}}]}\n"+
		"  - {from: [{source: {namespaces: [dmz], remoteIpBlocks: [127.0.9.0/24]}}]}\n"+
		"  - {from: [{source: {principals: [cluster.local/ns/shop/sa/payments]}}], to: [{operation: {hosts: [orders.shop*], notHosts: [orders.shop.evil]}}], when: [{key: \"request.headers[x-a]\", values: [yes]}]}") +
		ap("{name: by-caller-facts, namespace: shop}", "  selector: {matchLabels: {app: payments}}\n  rules:\n"+
			"  - {when: [{key: source.namespace, values: [shop]}, {key: source.principal, notValues: [cluster.local/ns/shop/sa/frontend]}]}\n"+
			"  - {when: [{key: source.ip, values: [127.0.1.0/24]}, {key: request.auth.principal, values: [iss/sub]}]}")
	approximations = ap("{name: joint-paths, namespace: shop}", "  selector: {matchLabels: {app: orders}}\n"+
		"  rules: [{to: [{operation: {paths: [/a]}}], when: [{key: \"request.headers[:path]\", values: [/b]}]}]") +
		ap("{name: joint-addresses, namespace: shop}", "  selector: {matchLabels: {app: payments}}\n"+
			"  rules: [{from: [{source: {ipBlocks: [127.0.0.5]}}], when: [{key: source.ip, values: [127.0.0.6]}]}]")
)

type reachCase struct {
	name     string
	policies string
	src      Peer
	dst      Workload
	reach    bool
	reason   string
	rule     string // the deciding rule, "" for none
	// approx says why Reachable answers yes though no request is allowed
	// (it over-approximates what requests carry); otherwise it must answer
	// yes exactly when some request of the battery is allowed.
	approx string
}

var reachCases = []reachCase{
	{"istio deny-and-allow: denied caller", denyAndAllow, peer("spiffe://deny"), wOrders, false, ReasonDeniedByPolicy, "shop/httpbin-deny[0]", ""},
	{"istio deny-and-allow: allowed caller", denyAndAllow, peer("spiffe://allow"), wOrders, true, ReasonAllowed, "shop/httpbin-allow[0]", ""},
	{"istio deny-and-allow: other caller", denyAndAllow, peer("spiffe://other"), wOrders, false, ReasonNoMatchingRule, "", ""},
	{"istio multiple-policies: methods for any caller", multiplePolicies, pWeb, withLabel(workload("httpbin", "127.0.0.10:8080"), "version", "v1"), true, ReasonAllowed, "shop/httpbin-1[0]", ""},
	{"istio multiple-policies: principals", multiplePolicies, peer("spiffe://principals2", "127.0.0.9"), wOrders, true, ReasonAllowed, "shop/httpbin-5[0]", ""},
	{"istio multiple-policies: ports served", multiplePolicies, pWeb, workload("orders", "127.0.0.10:90"), true, ReasonAllowed, "shop/httpbin-4[0]", ""},
	{"istio multiple-policies: ipBlocks", multiplePolicies, peer(intruder, "127.0.6.1"), wOrders, true, ReasonAllowed, "shop/httpbin-8[0]", ""},
	{"istio multiple-policies: header", multiplePolicies, pWeb, wOrders, true, ReasonAllowed, "shop/httpbin-9[0]", ""},
	{"serviceAccounts: qualified", serviceAccounts, peer("spiffe://cluster.local/ns/my-ns/sa/my-sa"), wOrders, true, ReasonAllowed, "shop/accounts[0]", ""},
	{"serviceAccounts: the policy's namespace", serviceAccounts, peer("spiffe://cluster.local/ns/shop/sa/sa-only"), wOrders, true, ReasonAllowed, "shop/accounts[0]", ""},
	{"serviceAccounts: same name, other namespace", serviceAccounts, peer("spiffe://cluster.local/ns/other/sa/sa-only"), wOrders, false, ReasonNoMatchingRule, "", ""},
	{"serviceAccounts: notServiceAccounts", serviceAccounts, peer("spiffe://cluster.local/ns/shop/sa/sa-not-only"), wOrders, false, ReasonNoMatchingRule, "", ""},
	{"namespaces: prefix", namespaceForms, peer("spiffe://cluster.local/ns/ns-prefix-a/sa/x"), wOrders, true, ReasonAllowed, "shop/namespaces[0]", ""},
	{"namespaces: notNamespaces", namespaceForms, peer("spiffe://cluster.local/ns/ns-prefix-bad/sa/x"), wOrders, false, ReasonNoMatchingRule, "", ""},
	{"namespaces: suffix", namespaceForms, peer("spiffe://cluster.local/ns/a-ns-suffix/sa/x"), wOrders, true, ReasonAllowed, "shop/namespaces[0]", ""},
	{"namespaces: inner glob", namespaceForms, peer("spiffe://cluster.local/ns/team-a-prod/sa/x"), wOrders, true, ReasonAllowed, "shop/namespaces[0]", ""},
	{"namespaces: inner glob, no match", namespaceForms, peer("spiffe://cluster.local/ns/team-a-dev/sa/x"), wOrders, false, ReasonNoMatchingRule, "", ""},
	{"principals: presence", principalNot, pFrontend, wOrders, true, ReasonAllowed, "shop/principals[0]", ""},
	{"principals: notPrincipals", principalNot, pWeb, wOrders, false, ReasonNoMatchingRule, "", ""},
	{"principals: trustDomains", principalNot, peer("spiffe://other.td/ns/shop/sa/frontend"), wOrders, false, ReasonNoMatchingRule, "", ""},
	{"principals: no certificate", principalNot, peer(""), wOrders, false, ReasonNoMatchingRule, "", ""},
	{"ipBlocks: known address inside", ipBlocks, pFrontend, wOrders, true, ReasonAllowed, "shop/ips[0]", ""},
	{"ipBlocks: known address excluded", ipBlocks, peer(frontend, "127.0.0.66"), wOrders, false, ReasonNoMatchingRule, "", ""},
	{"ipBlocks: address unknown", ipBlocks, peer(frontend), wOrders, true, ReasonAllowed, "shop/ips[0]", ""},
	{"ipBlocks: DENY at the only address", ipBlocks, peer(frontend, "127.0.1.5"), wOrders, false, ReasonDeniedByPolicy, "shop/deny-ips[0]", ""},
	{"ipBlocks: DENY at one of two addresses", ipBlocks, peer(frontend, "127.0.1.5", "127.0.0.5"), wOrders, true, ReasonAllowed, "shop/ips[0]", ""},
	{"DENY on some requests only", denyOnRequests, pWeb, wOrders, true, ReasonAllowed, "shop/allow[0]", ""},
	{"DENY on some requests: other caller", denyOnRequests, pFrontend, wOrders, true, ReasonAllowed, "shop/allow[0]", ""},
	{"DENY on every request", denyEverything, pWeb, wOrders, false, ReasonDeniedByPolicy, "shop/deny-dmz[0]", ""},
	{"DENY on every request: other caller", denyEverything, pFrontend, wOrders, true, ReasonAllowed, "shop/allow[0]", ""},
	{"DENY notPrincipals: excluded caller", denyEverything, pFrontend, wPayments, true, ReasonAllowed, "shop/allow[0]", ""},
	{"DENY notPrincipals: any other", denyEverything, pOrders, wPayments, false, ReasonDeniedByPolicy, "shop/only-frontend-pays[0]", ""},
	{"root DENY on every port served", meshDenyPort, pWeb, wOrders, false, ReasonDeniedByPolicy, "istio-system/mesh-deny-dmz[0]", ""},
	{"root DENY, address unknown, port known", meshDenyPort, pWeb, workload("orders", ":8080"), false, ReasonDeniedByPolicy, "istio-system/mesh-deny-dmz[0]", ""},
	{"root DENY spares a port served", meshDenyPort, pWeb, workload("orders", "127.0.0.10:8080", "127.0.0.10:9090"), true, ReasonAllowed, "shop/allow-dmz[0]", ""},
	{"root DENY, ports unknown", meshDenyPort, pWeb, workload("orders"), true, ReasonAllowed, "shop/allow-dmz[0]", ""},
	{"ALLOW on a port not served", portsAndIPs, pFrontend, wOrders, false, ReasonNoMatchingRule, "", ""},
	{"ALLOW on a port served", portsAndIPs, pFrontend, workload("orders", "127.0.0.10:8080", "127.0.0.10:9090"), true, ReasonAllowed, "shop/orders-9090[0]", ""},
	{"ALLOW on a destination address", portsAndIPs, pFrontend, workload("orders", "127.0.0.20:8080"), true, ReasonAllowed, "shop/orders-9090[1]", ""},
	{"ALLOW on a port and a port condition never together", portsAndIPs, pFrontend, workload("orders", "127.0.0.10:8080", "127.0.0.10:9091"), false, ReasonNoMatchingRule, "", ""},
	{"ALLOW, destination unknown", portsAndIPs, pFrontend, workload("orders"), true, ReasonAllowed, "shop/orders-9090[0]", ""},
	{"DENY on the only port served", portsAndIPs, pFrontend, wPayments, false, ReasonDeniedByPolicy, "shop/payments-not-8080[0]", ""},
	{"DENY on the only port, address unknown", portsAndIPs, pFrontend, workload("payments", ":8080"), false, ReasonDeniedByPolicy, "shop/payments-not-8080[0]", ""},
	{"DENY at each of three addresses", ipBlocks, peer(frontend, "127.0.1.5", "127.0.1.6", "127.0.1.7"), wOrders, false, ReasonDeniedByPolicy, "shop/deny-ips[0]", ""},
	{"DENY at two of three addresses", ipBlocks, peer(frontend, "127.0.1.5", "127.0.1.6", "127.0.0.7"), wOrders, true, ReasonAllowed, "shop/ips[0]", ""},
	{"DENY on one of two ports served", portsAndIPs, pFrontend, workload("payments", "127.0.0.11:8080", "127.0.0.11:8443"), true, ReasonAllowed, "shop/payments[0]", ""},
	{"not-forms leave nothing", unsatisfiable, pFrontend, wOrders, false, ReasonNoMatchingRule, "", ""},
	{"not-forms leave something", unsatisfiable, pFrontend, wPayments, true, ReasonAllowed, "shop/something[0]", ""},
	{"dry-run DENY ignored", dryRunAndAudit, pWeb, wOrders, true, ReasonAllowed, "shop/allow[0]", ""},
	{"dry-run ALLOW and AUDIT select nothing", dryRunAndAudit, pWeb, wPayments, false, ReasonNoAllowPolicy, "", ""},
	{"ALLOW policy without rules", selection, pFrontend, wOrders, false, ReasonNoMatchingRule, "", ""},
	{"targetRefs: the service's workload", selection, pOrders, wPayments, true, ReasonAllowed, "shop/by-service[0]", ""},
	{"targetRefs: other caller", selection, pFrontend, wPayments, false, ReasonNoMatchingRule, "", ""},
	{"targetRefs: not the service", selection, pOrders, workload("billing", "127.0.0.12:8080"), false, ReasonNoAllowPolicy, "", ""},
	{"root namespace selector", selection, pFrontend, inNamespace(workload("catalog", "127.0.0.13:8080"), "store"), true, ReasonAllowed, "istio-system/mesh-frontend[0]", ""},
	{"root namespace selector: other caller", selection, pOrders, inNamespace(workload("catalog", "127.0.0.13:8080"), "store"), false, ReasonNoMatchingRule, "", ""},
	{"namespace default ALLOW", selection, pFrontend, inNamespace(workload("old", "127.0.0.14:8080"), "legacy"), true, ReasonAllowedByDefault, "", ""},
	{"namespace default ALLOW, DENY first", selection, pWeb, inNamespace(workload("old", "127.0.0.14:8080"), "legacy"), false, ReasonDeniedByPolicy, "legacy/legacy-deny-dmz[0]", ""},
	{"JWT could be presented", requestFacts, pFrontend, wOrders, true, ReasonAllowed, "shop/callers[0]", ""},
	{"remote address could be forwarded", requestFacts, pWeb, wOrders, true, ReasonAllowed, "shop/callers[1]", ""},
	{"hosts and headers", requestFacts, pPayments, wOrders, true, ReasonAllowed, "shop/callers[2]", ""},
	{"no rule for the caller", requestFacts, peer("spiffe://cluster.local/ns/shop/sa/catalog", "127.0.0.15"), wOrders, false, ReasonNoMatchingRule, "", ""},
	{"caller conditions", requestFacts, pOrders, wPayments, true, ReasonAllowed, "shop/by-caller-facts[0]", ""},
	{"caller conditions exclude", requestFacts, pFrontend, wPayments, false, ReasonNoMatchingRule, "", ""},
	{"caller address condition", requestFacts, pWeb, wPayments, true, ReasonAllowed, "shop/by-caller-facts[1]", ""},
	// A caller's certificate names it; one that names more, or names it
	// oddly, is still judged as Evaluate would judge its requests.
	{"attack: principal with a trailing segment", denyEverything, peer(frontend+"/x", "127.0.0.5"), wPayments, false, ReasonDeniedByPolicy, "shop/only-frontend-pays[0]", ""},
	{"attack: account with a trailing segment", serviceAccounts, peer("spiffe://cluster.local/ns/my-ns/sa/my-sa/x"), wOrders, false, ReasonNoMatchingRule, "", ""},
	{"attack: a second namespace in the ID", denyEverything, peer("spiffe://cluster.local/ns/dmz/sa/web/ns/shop/sa/x", "127.0.1.5"), wOrders, false, ReasonDeniedByPolicy, "shop/deny-dmz[0]", ""},
	{"no SPIFFE scheme: read as Evaluate reads it", principalNot, peer("cluster.local/ns/shop/sa/frontend"), wOrders, true, ReasonAllowed, "shop/principals[0]", ""},
	{"attack: upper-case namespace", denyEverything, peer("spiffe://cluster.local/ns/DMZ/sa/web", "127.0.1.5"), wOrders, false, ReasonNoMatchingRule, "", ""},
	{"path condition against an operation's paths", approximations, pFrontend, wOrders, true, ReasonAllowed, "shop/joint-paths[0]",
		"an operation's paths and a :path condition are judged apart"},
	{"addresses in from and in a condition, judged together", approximations, peer(orders, "127.0.0.5", "127.0.0.6"), wPayments, false, ReasonNoMatchingRule, "", ""},
}

func TestReachable(t *testing.T) {
	sets := map[string]*Set{}
	for _, c := range reachCases {
		s, ok := sets[c.policies]
		if !ok {
			var err error
			if s, err = Parse("reach.yaml", []byte(c.policies)); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			sets[c.policies] = s
		}
		got := s.Reachable(c.src, c.dst)
		if got.Reachable != c.reach || got.Reason != c.reason || ruleName(got.Rule) != or(c.rule, "no rule") {
			t.Errorf("%s: %v (reason %s, %s), want reachable=%v reason %s, %s", c.name, got, got.Reason, ruleName(got.Rule), c.reach, c.reason, or(c.rule, "no rule"))
		}
		allowed := checkConsistent(t, s, c.src, c.dst, got, 20_000)
		switch {
		case c.approx == "" && got.Reachable && allowed == nil:
			t.Errorf("%s: reachable, but no request of the battery is allowed", c.name)
		case c.approx != "" && allowed != nil:
			t.Errorf("%s: marked as an over-approximation (%s), but Evaluate allows %s", c.name, c.approx, describe(allowed))
		}
	}
}

// The explanation names what decided, for `xds status`.
func TestReachString(t *testing.T) {
	s, err := Parse("reach.yaml", []byte(denyEverything+selection))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		src  Peer
		dst  Workload
		want string
	}{
		{pFrontend, wOrders, "reachable: shop/allow[0] may allow some of its requests"},
		{pWeb, wOrders, "unreachable: shop/deny-dmz[0] denies every request from it"},
		{peer("spiffe://cluster.local/ns/other/sa/x"), wOrders, "unreachable: none of the ALLOW rules that select the destination (1) admits it"},
		{pFrontend, inNamespace(workload("billing"), "store"), "unreachable: no ALLOW policy selects the destination (meshward denies by default)"},
		{pFrontend, inNamespace(workload("old"), "legacy"), "reachable: no ALLOW policy selects the destination and its namespace's defaultAction is ALLOW"},
	} {
		d := s.Destination(c.dst)
		if got := d.From(c.src); got.String() != c.want || got != s.Reachable(c.src, c.dst) {
			t.Errorf("%s -> %s: %q, want %q (Reachable: %v)", c.src.Principal, c.dst.ID, got, c.want, s.Reachable(c.src, c.dst))
		}
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
