package kube

import (
	"strings"
	"testing"
	"time"

	securityv1 "istio.io/client-go/pkg/apis/security/v1"

	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/extauthz/quarantine"
)

const frontend = "spiffe://cluster.local/ns/shop/sa/frontend"

func written(t *testing.T, e quarantine.Entry) *securityv1.AuthorizationPolicy {
	t.Helper()
	ap, err := QuarantinePolicy(e, "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

func TestQuarantinePolicyRoundTrip(t *testing.T) {
	since := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for _, e := range []quarantine.Entry{
		{Workload: frontend, Reason: "exec-shell", Since: since},
		{Workload: frontend, Reason: "scan", Since: since, Expires: since.Add(10 * time.Minute)},
		{Workload: frontend, Reason: strings.Repeat("é", 300), Since: since},
	} {
		ap := written(t, e)
		got, err := QuarantineOf(ap, "istio-system")
		if err != nil {
			t.Fatal(err)
		}
		if got.Workload != e.Workload || !got.Since.Equal(e.Since) || !got.Expires.Equal(e.Expires) || len(got.Reason) > maxReason {
			t.Fatalf("read back %+v from %+v", got, e)
		}
	}
}

// The policy must mean the quarantine to Istio too: a DENY of every
// request from the quarantined principal, to any workload.
func TestQuarantinePolicyDeniesThePrincipal(t *testing.T) {
	ap := written(t, quarantine.Entry{Workload: frontend, Reason: "exec-shell"})
	p, err := policy.Compile(ap)
	if err != nil {
		t.Fatal(err)
	}
	set := policy.NewSet([]*policy.Policy{p}, nil)
	for _, tc := range []struct {
		src  string
		deny bool
	}{
		{frontend, true},
		{"spiffe://cluster.local/ns/shop/sa/catalog", false},
	} {
		d := set.Evaluate(&policy.Request{SourcePrincipal: tc.src, Destination: "spiffe://cluster.local/ns/pay/sa/billing",
			DestinationLabels: map[string]string{"app": "billing"}, Method: "GET", Path: "/"})
		if denied := d.Reason == policy.ReasonDeniedByPolicy; denied != tc.deny {
			t.Errorf("%s: decision %+v, want denied=%v", tc.src, d, tc.deny)
		}
	}
}

func TestQuarantineOfRefuses(t *testing.T) {
	good := func() *securityv1.AuthorizationPolicy {
		return written(t, quarantine.Entry{Workload: frontend, Since: time.Unix(1, 0)})
	}
	for _, tc := range []struct {
		name   string
		change func(*securityv1.AuthorizationPolicy)
		want   string
	}{
		{"other namespace", func(p *securityv1.AuthorizationPolicy) { p.Namespace = "shop" }, "namespace"},
		{"unlabelled", func(p *securityv1.AuthorizationPolicy) { delete(p.Labels, ManagedByLabel) }, "not labelled"},
		{"not spiffe", func(p *securityv1.AuthorizationPolicy) { p.Annotations[annWorkload] = "frontend" }, "spiffe"},
		{"other workload", func(p *securityv1.AuthorizationPolicy) {
			p.Annotations[annWorkload] = "spiffe://cluster.local/ns/shop/sa/orders"
		}, "another workload"},
		{"no since", func(p *securityv1.AuthorizationPolicy) { delete(p.Annotations, annSince) }, annSince},
		{"bad expiry", func(p *securityv1.AuthorizationPolicy) { p.Annotations[annExpires] = "tomorrow" }, annExpires},
	} {
		p := good()
		tc.change(p)
		_, err := QuarantineOf(p, "istio-system")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p.Name) {
			t.Errorf("%s: error %v, want one naming %s and %q", tc.name, err, p.Name, tc.want)
		}
	}
}

func TestQuarantinePolicyNeedsSPIFFE(t *testing.T) {
	if _, err := QuarantinePolicy(quarantine.Entry{Workload: "10.0.0.1"}, "istio-system"); err == nil {
		t.Fatal("a workload without a SPIFFE ID has no principal to deny")
	}
}

func FuzzQuarantineOf(f *testing.F) {
	f.Add("istio-system", "meshward", frontend, "2026-12-02T10:00:00Z", "2026-12-02T11:00:00Z", "scan")
	f.Add("shop", "x", "spiffe://a/ns//sa/b", "", "x", "\xff")
	f.Fuzz(func(t *testing.T, ns, label, workload, since, expires, reason string) {
		p := written(t, quarantine.Entry{Workload: frontend})
		p.Namespace, p.Labels[ManagedByLabel] = ns, label
		p.Annotations = map[string]string{annWorkload: workload, annSince: since, annExpires: expires, annReason: reason}
		p.Name = QuarantinePolicyName(workload)
		e, err := QuarantineOf(p, "istio-system")
		if err != nil {
			return
		}
		if e.Workload != workload || len(e.Reason) > maxReason {
			t.Fatalf("accepted %+v", e)
		}
		if _, err := QuarantinePolicy(e, "istio-system"); err != nil {
			t.Fatalf("an accepted quarantine does not write back: %v", err)
		}
	})
}
