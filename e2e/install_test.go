package e2e

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"

	"github.com/meshward/meshward/e2e/kubetest"
	"github.com/meshward/meshward/extauthz/kube"
	"github.com/meshward/meshward/internal/install"
)

// startInstallCluster runs a real kube-apiserver that authorizes by RBAC,
// with Istio's CRDs, and installs every target of manifests/ into it (the
// minimal overlay, then the HA overlay over it, then both mesh sides) and
// the example policies and rotations: each object first as a server-side
// dry run, then for real.
func startInstallCluster(ctx context.Context, t *testing.T) *kubetest.Cluster {
	t.Helper()
	apiserver, etcd, err := kubetest.Binaries("..")
	if errors.Is(err, kubetest.ErrMissing) {
		t.Skipf("%v", err)
	}
	var logs bytes.Buffer
	cl, err := kubetest.StartWith(ctx, kubetest.Options{RBAC: true}, apiserver, etcd, t.TempDir(), &logs, istioCRDs(t))
	if err != nil {
		t.Fatalf("%v\n%s", err, tail(logs.String()))
	}
	t.Cleanup(cl.Stop)
	a := newApplier(t, cl.Config)
	a.applyAll(ctx, t, "shop", []install.Object{{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "shop"}}})
	imgs := installImages(t)
	for _, target := range install.Targets {
		objs, err := install.Render("../manifests", target, imgs)
		if err != nil {
			t.Fatal(err)
		}
		a.applyAll(ctx, t, target, objs)
	}
	for _, f := range []string{"../manifests/examples/shop.yaml", "../manifests/rotations/example.yaml"} {
		a.applyAll(ctx, t, f, readObjects(t, f))
	}
	return cl
}

// Every rendered object is accepted by a real API server with Istio's CRDs
// and meshward's, and the HA overlay applied over the minimal one takes over.
func TestInstallApply(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cl := startInstallCluster(ctx, t)
	cs := kubernetes.NewForConfigOrDie(cl.Config)
	d, err := cs.AppsV1().Deployments("meshward-system").Get(ctx, "meshward-authz", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 3 || d.Spec.Template.Spec.Containers[0].Image != installImages(t)["extauthz"].Pinned() {
		t.Fatalf("authorizer: %d replicas of %s", *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Image)
	}
	wp, err := dynamic.NewForConfigOrDie(cl.Config).Resource(wasmPlugins).Namespace("shop").Get(ctx, "meshward-filter", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if url, _, _ := unstructured.NestedString(wp.Object, "spec", "url"); url != "oci://"+installImages(t)["meshward-filter"].Pinned() {
		t.Fatalf("WasmPlugin url %q", url)
	}
}

var wasmPlugins = schema.GroupVersionResource{Group: "extensions.istio.io", Version: "v1alpha1", Resource: "wasmplugins"}

// saConfig is a client of the API as a ServiceAccount of meshward-system,
// with a token the API server issued for it.
func saConfig(ctx context.Context, t *testing.T, cl *kubetest.Cluster, sa string) *rest.Config {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(cl.Config)
	exp := int64(3600)
	tr, err := cs.CoreV1().ServiceAccounts("meshward-system").CreateToken(ctx, sa,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(cl.Config)
	cfg.BearerToken = tr.Status.Token
	return cfg
}

// A compromised control component holds its ServiceAccount's token: with
// it, it can read what the component follows and nothing else, least of
// all the Secrets of meshward-system or a write that opens the mesh.
func TestInstallRBACAttacks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cl := startInstallCluster(ctx, t)
	admin := kubernetes.NewForConfigOrDie(cl.Config)
	if _, err := admin.CoreV1().Secrets("meshward-system").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "meshward-verdict-token"},
		StringData: map[string]string{"token": "0123456789abcdef0123456789abcdef"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	open := &securityv1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "let-me-in", Namespace: "shop"}}
	type step struct {
		name    string
		allowed bool
		do      func(kubernetes.Interface, istioclient.Interface, dynamic.Interface) error
	}
	readSecret := step{"read the verdict token", false, func(c kubernetes.Interface, _ istioclient.Interface, _ dynamic.Interface) error {
		_, err := c.CoreV1().Secrets("meshward-system").Get(ctx, "meshward-verdict-token", metav1.GetOptions{})
		return err
	}}
	listPods := step{"list pods", false, func(c kubernetes.Interface, _ istioclient.Interface, _ dynamic.Interface) error {
		_, err := c.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		return err
	}}
	writePolicy := step{"create an AuthorizationPolicy", false, func(_ kubernetes.Interface, ic istioclient.Interface, _ dynamic.Interface) error {
		_, err := ic.SecurityV1().AuthorizationPolicies("shop").Create(ctx, open, metav1.CreateOptions{})
		return err
	}}
	deleteMeshward := step{"delete a MeshwardPolicy", false, func(_ kubernetes.Interface, _ istioclient.Interface, dc dynamic.Interface) error {
		return dc.Resource(kube.MeshwardPolicies).Namespace("shop").Delete(ctx, "shop", metav1.DeleteOptions{})
	}}
	listPolicies := step{"list AuthorizationPolicies", false, func(_ kubernetes.Interface, ic istioclient.Interface, _ dynamic.Interface) error {
		_, err := ic.SecurityV1().AuthorizationPolicies("").List(ctx, metav1.ListOptions{})
		return err
	}}
	deletePod := step{"delete a pod", false, func(c kubernetes.Interface, _ istioclient.Interface, _ dynamic.Interface) error {
		return c.CoreV1().Pods("shop").Delete(ctx, "orders-0", metav1.DeleteOptions{})
	}}
	readConfig := step{"read the catalog", false, func(c kubernetes.Interface, _ istioclient.Interface, _ dynamic.Interface) error {
		_, err := c.CoreV1().ConfigMaps("meshward-system").Get(ctx, "meshward-catalog", metav1.GetOptions{})
		return err
	}}
	allow := func(s step) step { s.allowed = true; return s }
	for sa, steps := range map[string][]step{
		"meshward-authz":      {readSecret, listPods, writePolicy, deleteMeshward, deletePod, readConfig, allow(listPolicies)},
		"meshward-ebpf-agent": {readSecret, writePolicy, deleteMeshward, deletePod, readConfig, listPolicies, allow(listPods)},
		"meshward-xds":        {readSecret, listPods, writePolicy, deleteMeshward, deletePod, readConfig, listPolicies},
	} {
		cfg := saConfig(ctx, t, cl, sa)
		c, ic, dc := kubernetes.NewForConfigOrDie(cfg), istioclient.NewForConfigOrDie(cfg), dynamic.NewForConfigOrDie(cfg)
		for _, s := range steps {
			err := s.do(c, ic, dc)
			if s.allowed && err != nil {
				t.Errorf("%s cannot %s: %v", sa, s.name, err)
			}
			if !s.allowed && !isForbidden(err) {
				t.Errorf("%s may %s: %v", sa, s.name, err)
			}
		}
	}
}
