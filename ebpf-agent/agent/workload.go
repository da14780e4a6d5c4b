package agent

import (
	"fmt"
	"os"
	"strings"

	"github.com/meshward/meshward/ebpf-agent/cgroups"
	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/internal/yamlstrict"
)

// Workload is a container the agent watches: its identity in the mesh, its
// cgroup v2 directory, and which profile it has (the container and its
// image version: a new image digest is a new version of the container).
type Workload struct {
	Identity  string // SPIFFE ID, as policies and verdicts name it
	CgroupDir string
	CgroupID  uint64
	Container string // the profile's key: namespace/workload/container in Kubernetes
	Image     string // the image digest: the profile's version
}

// unknownImage is the version of a container whose image is not known.
const unknownImage = "unknown"

// ParseWorkload reads "SPIFFE_ID=CGROUP_DIR", the --workload flag's form,
// and resolves the directory's cgroup id. Its profile is keyed by the
// identity.
func ParseWorkload(s string) (Workload, error) {
	id, dir, ok := strings.Cut(s, "=")
	if !ok || id == "" || dir == "" {
		return Workload{}, fmt.Errorf("workload %q: want SPIFFE_ID=CGROUP_DIR", s)
	}
	w := Workload{Identity: id, CgroupDir: dir}
	if err := w.resolve(); err != nil {
		return Workload{}, fmt.Errorf("workload %q: %w", s, err)
	}
	return w, nil
}

func (w *Workload) resolve() error {
	if err := w.check(); err != nil {
		return err
	}
	cg, err := cgroups.ID(w.CgroupDir)
	if err != nil {
		return fmt.Errorf("cgroup directory: %w", err)
	}
	w.CgroupID = cg
	return nil
}

// check validates what needs no system and fills in the defaults.
func (w *Workload) check() error {
	if _, _, _, err := identity.Parse(w.Identity); err != nil {
		return err
	}
	if w.Container == "" {
		w.Container = w.Identity
	}
	if w.Image == "" {
		w.Image = unknownImage
	}
	return nil
}

// containersFile is the --containers file: the containers of this node, as
// the local stand-in for the pods that Kubernetes would list.
type containersFile struct {
	Containers []struct {
		Workload  string `yaml:"workload"`
		Cgroup    string `yaml:"cgroup"`
		Container string `yaml:"container"`
		Image     string `yaml:"image"`
	} `yaml:"containers"`
}

// LoadContainers reads a --containers file and resolves each cgroup:
//
//	containers:
//	- workload: spiffe://cluster.local/ns/shop/sa/orders
//	  cgroup: /sys/fs/cgroup/unified/orders
//	  container: shop/orders/app   # profile key (default: the workload)
//	  image: sha256:…              # profile version (default: unknown)
func LoadContainers(path string) ([]Workload, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ws, err := ParseContainers(data, path)
	if err != nil {
		return nil, err
	}
	for i := range ws {
		if err := ws[i].resolve(); err != nil {
			return nil, fmt.Errorf("%s: containers[%d] (%s): %w", path, i, ws[i].Identity, err)
		}
	}
	return ws, nil
}

// ParseContainers decodes a --containers file without touching the system.
func ParseContainers(data []byte, name string) ([]Workload, error) {
	var f containersFile
	if err := yamlstrict.Decode(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	seen := map[string]int{}
	var ws []Workload
	for i, c := range f.Containers {
		if c.Workload == "" || c.Cgroup == "" {
			return nil, fmt.Errorf("%s: containers[%d]: want workload and cgroup", name, i)
		}
		if j, dup := seen[c.Cgroup]; dup {
			return nil, fmt.Errorf("%s: containers[%d]: cgroup %s is containers[%d]'s already", name, i, c.Cgroup, j)
		}
		seen[c.Cgroup] = i
		w := Workload{Identity: c.Workload, CgroupDir: c.Cgroup, Container: c.Container, Image: c.Image}
		if err := w.check(); err != nil {
			return nil, fmt.Errorf("%s: containers[%d]: %w", name, i, err)
		}
		ws = append(ws, w)
	}
	return ws, nil
}
