package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	securityv1beta1 "istio.io/api/security/v1beta1"
	typev1beta1 "istio.io/api/type/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/meshward/meshward/api/check"
	"github.com/meshward/meshward/extauthz/kube"
	"github.com/meshward/meshward/extauthz/server"
)

func istioCRDs(t *testing.T) string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "istio.io/api").Output()
	if err != nil {
		t.Fatalf("finding istio.io/api: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "kubernetes", "customresourcedefinitions.gen.yaml")
}

// The authorizer follows AuthorizationPolicies and MeshwardPolicies in a real
// kube-apiserver through informers: creations, updates and deletions change
// decisions, and an object that does not compile leaves its last good
// version in force.
func TestKubernetesPolicySource(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl, _ := startShopCluster(ctx, t, istioCRDs(t), "../manifests/base/crds/meshwardpolicy.yaml")
	r, err := server.Start(server.Config{Kube: cl.Config, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		InsecurePlaintextChecks: true, VerdictToken: []byte("kube-test-token-0123456789"), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	decide := func(method string, headers map[string]string) check.Response {
		body, _ := json.Marshal(check.Request{SourcePrincipal: "spiffe://cluster.local/ns/shop/sa/frontend",
			Destination: "spiffe://cluster.local/ns/shop/sa/orders", DestinationLabels: map[string]string{"app": "orders"},
			Method: method, Path: "/orders/1", Headers: headers})
		resp, err := http.Post("http://"+r.HTTPAddr.String()+check.Path, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out check.Response
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("not within 10 s: %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	ic := istioclient.NewForConfigOrDie(cl.Config)
	ap := &securityv1.AuthorizationPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "orders-read", Namespace: "shop"},
	}
	ap.Spec.Selector = &typev1beta1.WorkloadSelector{MatchLabels: map[string]string{"app": "orders"}}
	ap.Spec.Rules = []*securityv1beta1.Rule{{
		From: []*securityv1beta1.Rule_From{{Source: &securityv1beta1.Source{Principals: []string{"cluster.local/ns/shop/sa/frontend"}}}},
		To:   []*securityv1beta1.Rule_To{{Operation: &securityv1beta1.Operation{Methods: []string{"GET"}, Paths: []string{"/orders/*"}}}},
	}}
	if decide("GET", nil).Allow {
		t.Fatal("allowed before any policy")
	}
	created, err := ic.SecurityV1().AuthorizationPolicies("shop").Create(ctx, ap, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually("the created policy allows GET", func() bool { return decide("GET", nil).Allow })

	created.Spec.Rules[0].To[0].Operation.Methods = []string{"POST"}
	if _, err := ic.SecurityV1().AuthorizationPolicies("shop").Update(ctx, created, updateOpts()); err != nil {
		t.Fatal(err)
	}
	eventually("the update denies GET", func() bool { return !decide("GET", nil).Allow && decide("POST", nil).Allow })

	// A policy the API server accepts but meshward cannot compile: the last
	// good version stays.
	bad, _ := ic.SecurityV1().AuthorizationPolicies("shop").Get(ctx, "orders-read", metav1.GetOptions{})
	bad.Spec.Rules[0].To[0].Operation.Paths = []string{"/a/*/b"}
	if _, err := ic.SecurityV1().AuthorizationPolicies("shop").Update(ctx, bad, updateOpts()); err != nil {
		t.Fatal(err)
	}
	eventually("the rejection is counted", func() bool {
		return strings.Contains(scrapeMetrics(t, r.HTTPAddr.String()), `meshward_authz_policy_reloads_total{result="rejected"}`)
	})
	if !decide("POST", nil).Allow {
		t.Fatal("an invalid update replaced the last good policy")
	}

	dc := dynamic.NewForConfigOrDie(cl.Config)
	mp := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "meshward.io/v1alpha1", "kind": "MeshwardPolicy",
		"metadata": map[string]any{"name": "shop", "namespace": "shop"},
		"spec": map[string]any{"conditions": []any{map[string]any{"name": "ticket",
			"expression": `request.method == "POST" && !("x-ticket" in request.headers)`}}},
	}}
	if _, err := dc.Resource(kube.MeshwardPolicies).Namespace("shop").Create(ctx, mp, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually("the MeshwardPolicy condition applies", func() bool {
		return decide("POST", nil).Reason == "denied-by-condition" && decide("POST", map[string]string{"x-ticket": "1"}).Allow
	})

	if err := ic.SecurityV1().AuthorizationPolicies("shop").Delete(ctx, "orders-read", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually("the deletion takes the allow away", func() bool {
		return decide("POST", map[string]string{"x-ticket": "1"}).Reason == "no-allow-policy"
	})
}

func updateOpts() metav1.UpdateOptions { return metav1.UpdateOptions{} }

func scrapeMetrics(t *testing.T, addr string) string {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func tail(s string) string {
	if len(s) > 4000 {
		return s[len(s)-4000:]
	}
	return s
}
