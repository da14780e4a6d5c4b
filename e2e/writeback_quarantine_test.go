package e2e

import (
	"context"
	"testing"
	"time"

	securityv1beta1 "istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshward/meshward/extauthz/kube"
)

const (
	wbFrontend = "spiffe://cluster.local/ns/shop/sa/frontend"
	wbCatalog  = "spiffe://cluster.local/ns/shop/sa/catalog"
	wbBatch    = "spiffe://cluster.local/ns/shop/sa/batch"
)

// Quarantines written back as AuthorizationPolicies by the leader of three
// real authorizer processes, against a real kube-apiserver with Istio's
// CRDs: the policy is written, every replica takes the quarantine, a
// replica started from nothing denies from its first check, the leader's
// kill -9 hands the write-back to another replica within 15 s, and an
// operator's deletion, a release and a TTL each remove the quarantine.
func TestWritebackQuarantinePolicies(t *testing.T) {
	bin := extauthzBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cl, cs := startShopCluster(ctx, t, istioCRDs(t))
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-system"}}, metav1.CreateOptions{})
	must(t, err)
	ic := istioclient.NewForConfigOrDie(cl.Config)
	aps := ic.SecurityV1().AuthorizationPolicies("istio-system")
	// meshward's own policy in the root namespace, labelled as meshward's
	// but no quarantine: the write-back must never touch it.
	own := &securityv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "meshward-ext-authz", Namespace: "istio-system",
		Labels: map[string]string{kube.ManagedByLabel: kube.ManagedBy}},
		Spec: securityv1beta1.AuthorizationPolicy{Action: securityv1beta1.AuthorizationPolicy_AUDIT, Rules: []*securityv1beta1.Rule{{}}}}
	_, err = aps.Create(ctx, own, metav1.CreateOptions{})
	must(t, err)

	kc := writeKubeconfig(t, cl.Config)
	reps := []*wbReplica{startWBReplica(t, bin, kc, "r1"), startWBReplica(t, bin, kc, "r2"), startWBReplica(t, bin, kc, "r3")}
	var leader *wbReplica
	wbWait(t, "a leader", func() bool { leader = byID(reps, leaseHolder(ctx, cs)); return leader != nil })

	name := kube.QuarantinePolicyName(wbFrontend)
	leader.verdict(t, wbFrontend, 0, false)
	took := wbWait(t, "the quarantine's policy", func() bool { _, err := aps.Get(ctx, name, metav1.GetOptions{}); return err == nil })
	t.Logf("verdict to policy: %v", took)
	ap, err := aps.Get(ctx, name, metav1.GetOptions{})
	must(t, err)
	if ap.Spec.Action != securityv1beta1.AuthorizationPolicy_DENY || len(ap.Spec.Rules) != 1 ||
		ap.Spec.Rules[0].From[0].Source.Principals[0] != "cluster.local/ns/shop/sa/frontend" || ap.Labels[kube.ManagedByLabel] != "meshward" {
		t.Fatalf("policy written: %+v", ap)
	}
	for _, r := range reps {
		took := wbWait(t, r.id+" denies the quarantined source", func() bool { return r.reason(t, wbFrontend) == "quarantined-source" })
		t.Logf("%s denies frontend %v after the policy", r.id, took)
	}

	// An authorizer restarted from nothing denies from its very first check.
	fresh := startWBReplica(t, bin, kc, "r4")
	if got := fresh.reason(t, wbFrontend); got != "quarantined-source" {
		t.Fatalf("a replica started from nothing answered %q for a quarantined source", got)
	}
	reps = append(reps, fresh)

	// kill -9 the leader: another replica takes over, within 15 s.
	old := leader.id
	leader.kill()
	killed := time.Now()
	wbWait(t, "another leader", func() bool { l := byID(reps, leaseHolder(ctx, cs)); return l != nil && l.id != old })
	takeover := time.Since(killed)
	t.Logf("leader %s killed: %s took over in %v", old, leaseHolder(ctx, cs), takeover)
	if takeover > 15*time.Second {
		t.Fatalf("takeover took %v, more than 15 s", takeover)
	}
	leader = byID(reps, leaseHolder(ctx, cs))
	live := []*wbReplica{}
	for _, r := range reps {
		if r.id != old {
			live = append(live, r)
		}
	}

	// An operator deletes the policy with kubectl: the quarantine ends on
	// every live replica.
	must(t, aps.Delete(ctx, name, metav1.DeleteOptions{}))
	for _, r := range live {
		wbWait(t, r.id+" releases frontend", func() bool { return r.reason(t, wbFrontend) != "quarantined-source" })
	}
	if _, err := aps.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the new leader wrote the deleted quarantine back: %v", err)
	}

	// A release through the verdict API, and a TTL, remove their policies.
	leader.verdict(t, wbCatalog, 0, false)
	leader.verdict(t, wbBatch, 3*time.Second, false)
	for _, w := range []string{wbCatalog, wbBatch} {
		n := kube.QuarantinePolicyName(w)
		wbWait(t, "the policy of "+w, func() bool { _, err := aps.Get(ctx, n, metav1.GetOptions{}); return err == nil })
	}
	leader.verdict(t, wbCatalog, 0, true)
	for _, w := range []string{wbCatalog, wbBatch} {
		n := kube.QuarantinePolicyName(w)
		wbWait(t, "the removal of "+w+"'s policy", func() bool {
			_, err := aps.Get(ctx, n, metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
		for _, r := range live {
			wbWait(t, r.id+" releases "+w, func() bool { return r.reason(t, w) != "quarantined-source" })
		}
	}
	if _, err := aps.Get(ctx, own.Name, metav1.GetOptions{}); err != nil {
		t.Fatalf("the write-back touched meshward's own policy: %v", err)
	}
}

// A namespace's administrator can write AuthorizationPolicies in their own
// namespace only: a policy there that looks like a quarantine (labelled,
// named and annotated as meshward writes them) must not quarantine a
// workload mesh-wide, nor be deleted.
func TestWritebackIgnoresForgedQuarantines(t *testing.T) {
	bin := extauthzBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl, cs := startShopCluster(ctx, t, istioCRDs(t))
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-system"}}, metav1.CreateOptions{})
	must(t, err)
	ic := istioclient.NewForConfigOrDie(cl.Config)
	kc := writeKubeconfig(t, cl.Config)
	r := startWBReplica(t, bin, kc, "r1")
	wbWait(t, "a leader", func() bool { return leaseHolder(ctx, cs) == "r1" })
	// The real thing, for the forgery to copy.
	r.verdict(t, wbCatalog, 0, false)
	name := kube.QuarantinePolicyName(wbCatalog)
	wbWait(t, "the policy", func() bool {
		_, err := ic.SecurityV1().AuthorizationPolicies("istio-system").Get(ctx, name, metav1.GetOptions{})
		return err == nil
	})
	real, err := ic.SecurityV1().AuthorizationPolicies("istio-system").Get(ctx, name, metav1.GetOptions{})
	must(t, err)
	forged := &securityv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Name: kube.QuarantinePolicyName(wbFrontend),
		Namespace: "shop", Labels: real.Labels, Annotations: map[string]string{}}, Spec: *real.Spec.DeepCopy()}
	for k, v := range real.Annotations {
		forged.Annotations[k] = v
	}
	forged.Annotations["meshward.io/quarantined-workload"] = wbFrontend
	_, err = ic.SecurityV1().AuthorizationPolicies("shop").Create(ctx, forged, metav1.CreateOptions{})
	must(t, err)
	// A fresh replica reads everything there is at start: the forgery is
	// not a quarantine to it either.
	fresh := startWBReplica(t, bin, kc, "r2")
	for _, rep := range []*wbReplica{r, fresh} {
		if got := rep.reason(t, wbFrontend); got == "quarantined-source" {
			t.Fatalf("%s: a policy in namespace shop quarantined frontend mesh-wide", rep.id)
		}
		if got := rep.reason(t, wbCatalog); got != "quarantined-source" {
			t.Fatalf("%s: the real quarantine answered %q", rep.id, got)
		}
	}
	if _, err := ic.SecurityV1().AuthorizationPolicies("shop").Get(ctx, forged.Name, metav1.GetOptions{}); err != nil {
		t.Fatalf("the write-back deleted a namespace's own policy: %v", err)
	}
}
