package pods

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func pod(ns, name string, mod func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if mod != nil {
		mod(p)
	}
	return p
}

func TestOwner(t *testing.T) {
	yes := true
	for _, tc := range []struct {
		p    *corev1.Pod
		want string
	}{
		{pod("shop", "orders-7d9f8c-x2x9z", func(p *corev1.Pod) {
			p.Labels = map[string]string{"pod-template-hash": "7d9f8c"}
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "orders-7d9f8c", Controller: &yes}}
		}), "orders"},
		{pod("shop", "db-0", func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "StatefulSet", Name: "db", Controller: &yes}}
		}), "db"},
		{pod("shop", "debug", func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "not-controller"}}
		}), "debug"},
	} {
		if got := Owner(tc.p); got != tc.want {
			t.Errorf("Owner(%s) = %q, want %q", tc.p.Name, got, tc.want)
		}
	}
	for in, want := range map[string]string{
		"docker.io/library/nginx@sha256:4f2a": "sha256:4f2a", "sha256:77": "sha256:77", "": "unknown",
	} {
		if got := Digest(in); got != want {
			t.Errorf("Digest(%q) = %q, want %q", in, got, want)
		}
	}
	if RuntimeID("containerd://abc") != "abc" || RuntimeID("abc") != "abc" {
		t.Error("RuntimeID")
	}
}

func TestContainers(t *testing.T) {
	dir := t.TempDir()
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	p := pod("shop", "orders-1", func(p *corev1.Pod) {
		p.Spec.ServiceAccountName = "orders"
		p.Status.ContainerStatuses = []corev1.ContainerStatus{
			{Name: "app", ContainerID: "containerd://aaaa", ImageID: "reg/orders@sha256:111", State: running},
			{Name: "sidecar", ContainerID: "containerd://bbbb", ImageID: "reg/proxy@sha256:222", State: running},
			{Name: "init-done", ContainerID: "containerd://cccc", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{}}},
			{Name: "pending", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{}}},
		}
	})
	find := func(id string) (string, error) {
		if id == "aaaa" {
			return dir, nil
		}
		return "", ErrNoCgroup
	}
	ws, err := Containers(p, find)
	if len(ws) != 1 || !errors.Is(err, ErrNoCgroup) || !strings.Contains(err.Error(), "pod shop/orders-1 container sidecar") {
		t.Fatalf("%+v, %v", ws, err)
	}
	w := ws[0]
	if w.Identity != "spiffe://cluster.local/ns/shop/sa/orders" || w.Container != "shop/orders-1/app" || w.Image != "sha256:111" ||
		w.CgroupDir != dir || w.CgroupID == 0 {
		t.Fatalf("workload %+v", w)
	}
	p.Spec.ServiceAccountName = ""
	if ws, _ := Containers(p, find); ws[0].Identity != "spiffe://cluster.local/ns/shop/sa/default" {
		t.Fatalf("no service account: %s", ws[0].Identity)
	}
}

// A /proc-shaped tree: the finder reads each process's cgroup file.
func TestCgroupFinder(t *testing.T) {
	proc := t.TempDir()
	write := func(pid, content string) {
		os.MkdirAll(filepath.Join(proc, pid), 0o755)
		os.WriteFile(filepath.Join(proc, pid, "cgroup"), []byte(content), 0o644)
	}
	id := "4f2a9c0d1e2b3a4f5e6d7c8b9a0f1e2d3c4b5a69788766554433221100ffeedd"
	write("1", "12:pids:/\n0::/init.scope\n")
	write("17", "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-"+id+".scope\n")
	write("self", "0::/cri-containerd-"+id+".scope\n") // not a pid: ignored
	os.MkdirAll(filepath.Join(proc, "18"), 0o755)      // a process gone while reading
	f := &CgroupFinder{Proc: proc, Root: "/sys/fs/cgroup"}
	dir, err := f.Find(id)
	if err != nil || dir != "/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-"+id+".scope" {
		t.Fatalf("%q, %v", dir, err)
	}
	if _, err := f.Find("0000000000000000"); !errors.Is(err, ErrNoCgroup) {
		t.Fatalf("unknown container: %v", err)
	}
	if _, err := f.Find("4f2a"); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("short id: %v", err)
	}
	// A container started since the last read is found by reading again;
	// one that was read is found without reading (its process is gone).
	id2 := "99aa" + id[4:]
	write("30", "0::/cri-containerd-"+id2+".scope\n")
	os.RemoveAll(filepath.Join(proc, "17"))
	if dir, err := f.Find(id2); err != nil || dir != "/sys/fs/cgroup/cri-containerd-"+id2+".scope" {
		t.Fatalf("new container: %q, %v", dir, err)
	}
	os.RemoveAll(filepath.Join(proc, "30"))
	if _, err := f.Find(id2); err != nil {
		t.Fatalf("a container read before: %v", err)
	}
}
