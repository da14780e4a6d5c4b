package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	verdictv1 "github.com/meshward/meshward/api/verdict/v1"
	"github.com/meshward/meshward/ebpf-agent/agent"
	"github.com/meshward/meshward/ebpf-agent/cgroups"
	"github.com/meshward/meshward/ebpf-agent/collector"
	"github.com/meshward/meshward/ebpf-agent/pods"
)

// container stands in for what containerd runs on this node: a cgroup
// named as kubelet names a container's, with a process in it.
type container struct {
	id, dir string
	proc    *exec.Cmd
}

func startContainer(t *testing.T) *container {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	c := &container{id: hex.EncodeToString(b)}
	var err error
	if c.dir, _, err = cgroups.Create("meshward-e2e-cri-containerd-" + c.id + ".scope"); err != nil {
		t.Fatal(err)
	}
	c.proc = c.run(t, "/bin/sleep", "60")
	t.Cleanup(func() {
		c.proc.Process.Kill()
		c.proc.Wait()
		cgroups.Remove(c.dir)
	})
	return c
}

func (c *container) run(t *testing.T, argv ...string) *exec.Cmd {
	t.Helper()
	fd, err := cgroups.Open(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(fd.Fd())}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

type noVerdicts struct{}

func (noVerdicts) Report(context.Context, *verdictv1.Verdict) (uint64, error) { return 0, nil }

// The agent follows this node's pods in a real kube-apiserver: a running
// container is found through /proc to its cgroup and watched with the pod's
// identity, workload and image digest (its system calls arrive through the
// real eBPF program); an image update moves it to the new container and
// version; another node's pods are not watched; a deleted pod is let go.
func TestAgentFollowsPods(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: eBPF and cgroups")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, cs := startShopCluster(ctx, t)

	col, err := collector.Open(collector.Options{Window: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer col.Close()
	reg := prometheus.NewRegistry()
	a, err := agent.New(col, nil, noVerdicts{}, reg, zerolog.Nop(), agent.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go a.Run(runCtx)
	root, _ := cgroups.Mount()
	synced := make(chan []agent.Workload, 16)
	w := &pods.Watcher{Client: cs, Node: "node-1", Find: (&pods.CgroupFinder{Proc: "/proc", Root: root}).Find, Target: a,
		Log: zerolog.Nop(), Resync: 200 * time.Millisecond, OnSynced: func(ws []agent.Workload) { synced <- ws }}
	go w.Run(runCtx)
	waitFor := func(what string, ok func([]agent.Workload) bool) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case ws := <-synced:
				if ok(ws) && ok(a.Watched()) {
					return
				}
			case <-deadline:
				t.Fatalf("%s: watched %+v", what, a.Watched())
			}
		}
	}

	c1, elsewhere := startContainer(t), startContainer(t)
	yes := true
	newPod := func(name, node string) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: map[string]string{"pod-template-hash": "5d8f"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "orders-5d8f", UID: "0f1e2d3c", Controller: &yes}}},
			Spec: corev1.PodSpec{NodeName: node, ServiceAccountName: "orders", Containers: []corev1.Container{{Name: "app", Image: "registry.local/orders:1"}}},
		}
		p, err := cs.CoreV1().Pods("shop").Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	setRunning := func(p *corev1.Pod, c *container, digest string) *corev1.Pod {
		t.Helper()
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", ContainerID: "containerd://" + c.id,
			Image: "registry.local/orders:1", ImageID: "registry.local/orders@" + digest,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}
		p, err := cs.CoreV1().Pods("shop").UpdateStatus(ctx, p, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	setRunning(newPod("orders-5d8f-other", "node-2"), elsewhere, "sha256:999")
	p := setRunning(newPod("orders-5d8f-x2x9z", "node-1"), c1, "sha256:111")

	one := func(dir, image string) func([]agent.Workload) bool {
		return func(ws []agent.Workload) bool {
			return len(ws) == 1 && ws[0].CgroupDir == dir && ws[0].Image == image
		}
	}
	waitFor("the pod's container", one(c1.dir, "sha256:111"))
	got := a.Watched()[0]
	if got.Identity != "spiffe://cluster.local/ns/shop/sa/orders" || got.Container != "shop/orders/app" {
		t.Fatalf("watched %+v", got)
	}
	if err := c1.run(t, "/bin/true").Wait(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	events, err := testutil.GatherAndCount(reg, "meshward_agent_events_total")
	if err != nil || events != 1 {
		t.Fatalf("event series %d (%v)", events, err)
	}
	if n := eventsOf(t, reg, got.Identity); n == 0 {
		t.Fatal("no system call of the pod's container arrived")
	}

	// An image update: the new version runs in a new container.
	c2 := startContainer(t)
	p = setRunning(p, c2, "sha256:222")
	waitFor("the updated container", one(c2.dir, "sha256:222"))

	if err := cs.CoreV1().Pods("shop").Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	waitFor("the deleted pod", func(ws []agent.Workload) bool { return len(ws) == 0 })
}

func eventsOf(t *testing.T, reg *prometheus.Registry, workload string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "meshward_agent_events_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "workload" && l.GetValue() == workload {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
