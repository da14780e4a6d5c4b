// Package learn watches allowed traffic and writes least-privilege Istio
// AuthorizationPolicies that allow exactly the edges it saw: per destination
// workload, one rule per source principal with the methods and paths it used
// (ID-like path segments generalised to {*}).
package learn

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	securityv1beta1 "istio.io/api/security/v1beta1"
	typev1beta1 "istio.io/api/type/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/meshward/meshward/extauthz/policy"
)

// workload is a destination as a selector names it.
type workload struct {
	ns, labels string // labels as sorted k=v,k=v
}

type usage struct {
	methods map[string]bool
	paths   map[string]bool
}

// Learner accumulates observed edges. Its memory is bounded by maxEdges and
// maxPaths; past them, traffic is still allowed but no longer recorded (the
// generated policy then needs review, which Stats says).
type Learner struct {
	mu      sync.Mutex
	edges   map[workload]map[string]*usage // destination -> source principal -> usage
	labels  map[workload]map[string]string
	n       int
	dropped int
}

const (
	maxEdges = 100_000
	maxPaths = 64 // per edge; more distinct paths than this are generalised to "*"
)

// New returns an empty learner.
func New() *Learner {
	return &Learner{edges: map[workload]map[string]*usage{}, labels: map[workload]map[string]string{}}
}

// Observe records an allowed request.
func (l *Learner) Observe(r *policy.Request) {
	if r.SourcePrincipal == "" {
		return // least privilege names its callers; plaintext callers stay denied
	}
	w := workload{ns: r.DestinationNS(), labels: labelString(r.DestinationLabels)}
	l.mu.Lock()
	defer l.mu.Unlock()
	bySrc, ok := l.edges[w]
	if !ok {
		bySrc = map[string]*usage{}
		l.edges[w] = bySrc
		l.labels[w] = r.DestinationLabels
	}
	u, ok := bySrc[r.SourcePrincipal]
	if !ok {
		if l.n >= maxEdges {
			l.dropped++
			return
		}
		l.n++
		u = &usage{methods: map[string]bool{}, paths: map[string]bool{}}
		bySrc[r.SourcePrincipal] = u
	}
	if m := strings.ToUpper(r.Method); policy.ValidValue(m) == nil {
		u.methods[m] = true
	}
	if p, ok := writablePath(r.Path); ok && len(u.paths) <= maxPaths {
		u.paths[p] = true
	}
}

// writablePath is the path as a policy can say it: generalised if the
// template is valid, else as observed; a path no policy can name (a '*' or
// '{' inside, say) is not learned, so the learned policy stays loadable and
// allows no more than was seen.
func writablePath(path string) (string, bool) {
	if g := generalise(path); policy.ValidPath(g) == nil {
		return g, true
	}
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	return path, policy.ValidPath(path) == nil
}

func labelString(m map[string]string) string {
	kv := make([]string, 0, len(m))
	for k, v := range m {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

// ID-like segments: numbers, UUIDs, long hex.
var idSegment = regexp.MustCompile(`^([0-9]+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{16,})$`)

// generalise drops the query and turns ID-like segments into {*}, so that
// /orders/42 and /orders/43 are one allowed path, /orders/{*}.
func generalise(path string) string {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if idSegment.MatchString(s) {
			segs[i] = "{*}"
		}
	}
	return strings.Join(segs, "/")
}

// Stats says how much was learned and whether anything was dropped.
func (l *Learner) Stats() (workloads, edges, dropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.edges), l.n, l.dropped
}

// Policies writes one ALLOW AuthorizationPolicy per destination workload,
// as multi-document YAML.
func (l *Learner) Policies() ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ws := make([]workload, 0, len(l.edges))
	for w := range l.edges {
		ws = append(ws, w)
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i].ns+ws[i].labels < ws[j].ns+ws[j].labels })
	var out []byte
	for i, w := range ws {
		b, err := sigsyaml.Marshal(l.policyFor(w, i))
		if err != nil {
			return nil, err
		}
		out = append(out, "---\n"...)
		out = append(out, b...)
	}
	return out, nil
}

func (l *Learner) policyFor(w workload, i int) *securityv1.AuthorizationPolicy {
	name := fmt.Sprintf("learned-%d", i)
	if app := l.labels[w]["app"]; app != "" {
		name = "learned-" + app
	}
	ap := &securityv1.AuthorizationPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "security.istio.io/v1", Kind: "AuthorizationPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.ns, Annotations: map[string]string{"meshward.io/learned": "true"}},
	}
	if len(l.labels[w]) > 0 {
		ap.Spec.Selector = &typev1beta1.WorkloadSelector{MatchLabels: l.labels[w]}
	}
	ap.Spec.Action = securityv1beta1.AuthorizationPolicy_ALLOW
	srcs := make([]string, 0, len(l.edges[w]))
	for s := range l.edges[w] {
		srcs = append(srcs, s)
	}
	sort.Strings(srcs)
	for _, s := range srcs {
		u := l.edges[w][s]
		paths := sorted(u.paths)
		if len(u.paths) > maxPaths {
			paths = []string{"*"}
		}
		principal := strings.TrimPrefix(s, "spiffe://")
		if len(u.methods) == 0 || len(paths) == 0 || policy.ValidValue(principal) != nil {
			continue // nothing a policy can say was seen: the caller stays denied
		}
		ap.Spec.Rules = append(ap.Spec.Rules, &securityv1beta1.Rule{
			From: []*securityv1beta1.Rule_From{{Source: &securityv1beta1.Source{Principals: []string{principal}}}},
			To:   []*securityv1beta1.Rule_To{{Operation: &securityv1beta1.Operation{Methods: sorted(u.methods), Paths: paths}}},
		})
	}
	return ap
}

func sorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
