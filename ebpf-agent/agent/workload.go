package agent

import (
	"fmt"
	"strings"

	"github.com/meshward/meshward/ebpf-agent/cgroups"
	"github.com/meshward/meshward/internal/identity"
)

// Workload is a container the agent watches: its identity in the mesh and
// its cgroup v2 directory.
type Workload struct {
	Identity  string // SPIFFE ID, as policies and verdicts name it
	CgroupDir string
	CgroupID  uint64
}

// ParseWorkload reads "SPIFFE_ID=CGROUP_DIR", the --workload flag's form,
// and resolves the directory's cgroup id.
func ParseWorkload(s string) (Workload, error) {
	id, dir, ok := strings.Cut(s, "=")
	if !ok || id == "" || dir == "" {
		return Workload{}, fmt.Errorf("workload %q: want SPIFFE_ID=CGROUP_DIR", s)
	}
	if _, _, _, err := identity.Parse(id); err != nil {
		return Workload{}, fmt.Errorf("workload %q: %w", s, err)
	}
	cg, err := cgroups.ID(dir)
	if err != nil {
		return Workload{}, fmt.Errorf("workload %q: cgroup directory: %w", s, err)
	}
	return Workload{Identity: id, CgroupDir: dir, CgroupID: cg}, nil
}
