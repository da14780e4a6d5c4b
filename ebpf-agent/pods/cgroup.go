package pods

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// CgroupFinder finds a container's cgroup v2 directory through the processes
// that run in it: kubelet names a container's cgroup after its runtime id
// (cri-containerd-<id>.scope, docker-<id>.scope, or <id> with cgroupfs).
type CgroupFinder struct {
	Proc string // /proc
	Root string // the cgroup2 mount
}

// Find returns the directory of the cgroup whose last path element holds
// containerID, as some process's /proc/<pid>/cgroup names it.
func (f CgroupFinder) Find(containerID string) (string, error) {
	if len(containerID) < 12 {
		return "", fmt.Errorf("container id %q: too short to match a cgroup", containerID)
	}
	ents, err := os.ReadDir(f.Proc)
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		if !e.IsDir() || e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		if p := unifiedPath(filepath.Join(f.Proc, e.Name(), "cgroup")); p != "" && strings.Contains(filepath.Base(p), containerID) {
			return filepath.Join(f.Root, p), nil
		}
	}
	return "", fmt.Errorf("container %s: %w", containerID, ErrNoCgroup)
}

// unifiedPath reads the cgroup v2 line ("0::/path") of a /proc/<pid>/cgroup
// file; "" when there is none or the process is gone.
func unifiedPath(file string) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if p, ok := strings.CutPrefix(s.Text(), "0::"); ok {
			return p
		}
	}
	return ""
}
