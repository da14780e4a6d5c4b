// Package cgroups finds cgroup v2 and makes the cgroup directories that stand
// for containers in local runs and tests. A cgroup v2 directory's inode number
// is the id that bpf_get_current_cgroup_id reports.
package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Mount returns where cgroup v2 is mounted, mounting it under
// /run/meshward/cgroup2 if it is nowhere (that needs root).
func Mount() (string, error) {
	if p, err := findMount("/proc/self/mountinfo"); err == nil {
		return p, nil
	}
	dir := "/run/meshward/cgroup2"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := syscall.Mount("none", dir, "cgroup2", 0, ""); err != nil {
		return "", fmt.Errorf("cgroups: no cgroup2 mount and mounting one at %s failed: %w", dir, err)
	}
	return dir, nil
}

func findMount(mountinfo string) (string, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		// id parent major:minor root mountpoint options... - fstype source options
		pre, post, ok := strings.Cut(s.Text(), " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if ok && len(fields) >= 5 && len(tail) >= 1 && tail[0] == "cgroup2" {
			return fields[4], nil
		}
	}
	return "", errors.New("cgroups: no cgroup2 mount")
}

// ID returns the cgroup id of a cgroup v2 directory.
func ID(dir string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return 0, fmt.Errorf("cgroups: %w", err)
	}
	return st.Ino, nil
}

// Create makes a cgroup directory below the cgroup2 mount and returns its
// path and id.
func Create(name string) (string, uint64, error) {
	root, err := Mount()
	if err != nil {
		return "", 0, err
	}
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", 0, fmt.Errorf("cgroups: %w", err)
	}
	id, err := ID(dir)
	return dir, id, err
}

// Remove deletes an empty cgroup directory.
func Remove(dir string) error { return syscall.Rmdir(dir) }

// Open returns a directory fd for SysProcAttr.CgroupFD, so that a child
// starts inside the cgroup (clone3 with CLONE_INTO_CGROUP) from its first
// instruction.
func Open(dir string) (*os.File, error) { return os.Open(dir) }
