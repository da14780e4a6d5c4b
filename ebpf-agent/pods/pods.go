// Package pods finds the containers of this node's pods for the agent to
// watch: each one's mesh identity (its service account), its profile's key
// (namespace/workload/container) and version (the image digest: a new
// digest is a new version), and its cgroup, found through
// /proc/<pid>/cgroup of a process that runs in it.
package pods

import (
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshward/meshward/ebpf-agent/agent"
	"github.com/meshward/meshward/ebpf-agent/cgroups"
	"github.com/meshward/meshward/internal/identity"
)

// ErrNoCgroup says a running container's cgroup was not found (yet): its
// first process may not be there, or it runs on another node.
var ErrNoCgroup = errors.New("no process of the container found in /proc")

// Containers lists a pod's running containers as workloads; cgroupOf finds a
// container's cgroup directory from its runtime id. The containers it could
// not place are left out and named in the error.
func Containers(pod *corev1.Pod, cgroupOf func(containerID string) (string, error)) ([]agent.Workload, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	owner := Owner(pod)
	var ws []agent.Workload
	var errs []error
	for _, st := range pod.Status.ContainerStatuses {
		id := RuntimeID(st.ContainerID)
		if st.State.Running == nil || id == "" {
			continue
		}
		dir, err := cgroupOf(id)
		if err != nil {
			errs = append(errs, fmt.Errorf("pod %s/%s container %s: %w", pod.Namespace, pod.Name, st.Name, err))
			continue
		}
		cg, err := cgroups.ID(dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("pod %s/%s container %s: %w", pod.Namespace, pod.Name, st.Name, err))
			continue
		}
		ws = append(ws, agent.Workload{
			Identity:  identity.SPIFFE(pod.Namespace, sa),
			CgroupDir: dir,
			CgroupID:  cg,
			Container: pod.Namespace + "/" + owner + "/" + st.Name,
			Image:     Digest(st.ImageID),
		})
	}
	return ws, errors.Join(errs...)
}

// Owner names the workload a pod belongs to, so that all its replicas (and
// their successors) share one profile: the Deployment of a ReplicaSet's pod
// (the ReplicaSet's name without its pod-template-hash), the StatefulSet,
// DaemonSet or Job, or else the pod itself.
func Owner(pod *corev1.Pod) string {
	for _, ref := range pod.OwnerReferences {
		if ref.Controller == nil || !*ref.Controller {
			continue
		}
		if hash := pod.Labels["pod-template-hash"]; ref.Kind == "ReplicaSet" && hash != "" {
			return strings.TrimSuffix(ref.Name, "-"+hash)
		}
		return ref.Name
	}
	return pod.Name
}

// RuntimeID strips the runtime from a container status's id
// ("containerd://4f2a…" is "4f2a…").
func RuntimeID(containerID string) string {
	if _, id, ok := strings.Cut(containerID, "://"); ok {
		return id
	}
	return containerID
}

// Digest is the version of an image: the digest of a status's imageID
// ("docker.io/library/nginx@sha256:…" is "sha256:…").
func Digest(imageID string) string {
	if i := strings.LastIndex(imageID, "@"); i >= 0 {
		return imageID[i+1:]
	}
	if imageID == "" {
		return "unknown"
	}
	return imageID
}
