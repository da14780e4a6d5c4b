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
// It reads /proc once for many lookups: again only when an id is not in
// what it read. It is not safe for concurrent use.
type CgroupFinder struct {
	Proc  string // /proc
	Root  string // the cgroup2 mount
	paths map[string]bool
}

// Find returns the directory of the cgroup whose last path element holds
// containerID, as some process's /proc/<pid>/cgroup names it.
func (f *CgroupFinder) Find(containerID string) (string, error) {
	if len(containerID) < 12 {
		return "", fmt.Errorf("container id %q: too short to match a cgroup", containerID)
	}
	if p, ok := f.lookup(containerID); ok {
		return p, nil
	}
	if err := f.scan(); err != nil {
		return "", err
	}
	if p, ok := f.lookup(containerID); ok {
		return p, nil
	}
	return "", fmt.Errorf("container %s: %w", containerID, ErrNoCgroup)
}

func (f *CgroupFinder) lookup(containerID string) (string, bool) {
	for p := range f.paths {
		if strings.Contains(filepath.Base(p), containerID) {
			return filepath.Join(f.Root, p), true
		}
	}
	return "", false
}

// scan reads the cgroup of every process.
func (f *CgroupFinder) scan() error {
	ents, err := os.ReadDir(f.Proc)
	if err != nil {
		return err
	}
	f.paths = map[string]bool{}
	for _, e := range ents {
		if !e.IsDir() || e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		if p := unifiedPath(filepath.Join(f.Proc, e.Name(), "cgroup")); p != "" {
			f.paths[p] = true
		}
	}
	return nil
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
