package e2e

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshward/meshward/e2e/kubetest"
	"github.com/meshward/meshward/e2e/system"
)

// waitQuarantined calls orders as the frontend until the frontend is denied
// as quarantined, failing when that takes more than 1 s after start (what
// happened then: `after`). It returns how long it took.
func waitQuarantined(ctx context.Context, t *testing.T, s *system.System, start time.Time, after string) time.Duration {
	t.Helper()
	for {
		r, err := s.Call(ctx, system.Frontend, "GET", "/orders/42")
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == 403 && r.Reason == "quarantined-source" {
			return time.Since(start)
		}
		if time.Since(start) > time.Second {
			t.Fatalf("1 s after %s, the frontend still gets %d %q", after, r.Status, r.Reason)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startShopCluster runs a real kube-apiserver with the CRDs of crdFiles and a
// "shop" namespace, stopped when the test ends; it skips the test when the
// binaries are missing.
func startShopCluster(ctx context.Context, t *testing.T, crdFiles ...string) (*kubetest.Cluster, kubernetes.Interface) {
	t.Helper()
	apiserver, etcd, err := kubetest.Binaries("..")
	if errors.Is(err, kubetest.ErrMissing) {
		t.Skipf("%v", err)
	}
	var logs bytes.Buffer
	cl, err := kubetest.Start(ctx, apiserver, etcd, t.TempDir(), &logs, crdFiles...)
	if err != nil {
		t.Fatalf("%v\n%s", err, tail(logs.String()))
	}
	t.Cleanup(cl.Stop)
	cs := kubernetes.NewForConfigOrDie(cl.Config)
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return cl, cs
}
