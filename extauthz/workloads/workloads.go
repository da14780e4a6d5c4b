// Package workloads binds mesh identities to the workload metadata that
// selects their policies (labels, Kubernetes services). A sidecar's check
// names its own identity, which mTLS proves, but its labels and service are
// only claimed: without a binding, a compromised workload could claim
// another's labels and so read (or, in learn mode, write) that workload's
// policies. It knows nothing of transports.
package workloads

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/internal/yamlstrict"
)

// Workload is what one identity may claim about itself.
type Workload struct {
	Identity string            `yaml:"identity"`
	Labels   map[string]string `yaml:"labels"`
	Services []string          `yaml:"services"`
}

// Registry holds every workload, by identity.
type Registry struct {
	byID map[string][]Workload
}

type file struct {
	Workloads []Workload `yaml:"workloads"`
}

// Bounds on a registry file: the parser takes hostile input.
const (
	MaxFileBytes = 16 << 20
	maxLabels    = 64
	maxServices  = 64
)

// Parse reads a registry file; errors say file:line and what is wrong.
func Parse(name string, data []byte) (*Registry, error) {
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s: %d bytes, at most %d", name, len(data), MaxFileBytes)
	}
	var root yaml.Node
	if err := yamlstrict.Decode(data, &root); err != nil && !errors.Is(err, yamlstrict.ErrEmpty) {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	var f file
	if len(root.Content) > 0 {
		if err := yamlstrict.DecodeNode(root.Content[0], &f); err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
	}
	r := &Registry{byID: map[string][]Workload{}}
	for i, w := range f.Workloads {
		if err := w.validate(); err != nil {
			return nil, fmt.Errorf("%s:%d: workloads[%d]: %v", name, line(root, i), i, err)
		}
		r.byID[w.Identity] = append(r.byID[w.Identity], w)
	}
	return r, nil
}

func (w Workload) validate() error {
	if _, _, _, err := identity.Parse(w.Identity); err != nil {
		return err
	}
	if len(w.Labels) > maxLabels || len(w.Services) > maxServices {
		return fmt.Errorf("at most %d labels and %d services", maxLabels, maxServices)
	}
	for k := range w.Labels {
		if k == "" {
			return errors.New("a label key is empty")
		}
	}
	if slices.Contains(w.Services, "") {
		return errors.New("a service name is empty")
	}
	return nil
}

// line is the line of the i-th workload in the file, for errors.
func line(root yaml.Node, i int) int {
	if len(root.Content) == 0 {
		return 0
	}
	doc := root.Content[0]
	for j := 0; j+1 < len(doc.Content); j += 2 {
		if doc.Content[j].Value == "workloads" && i < len(doc.Content[j+1].Content) {
			return doc.Content[j+1].Content[i].Line
		}
	}
	return doc.Line
}

// Vouch says whether id may describe itself with these labels and service:
// the labels must be some of one of its workloads' labels (a selector that
// matches fewer labels matches the workload too, so claiming fewer selects
// no policy that is not the workload's) and the service one of its services.
func (r *Registry) Vouch(id string, labels map[string]string, service string) error {
	ws, ok := r.byID[id]
	if !ok {
		return fmt.Errorf("identity %s is not in the workload registry", id)
	}
	for _, w := range ws {
		if subset(labels, w.Labels) && (service == "" || slices.Contains(w.Services, service)) {
			return nil
		}
	}
	return fmt.Errorf("identity %s claims labels {%s} and service %q, which none of its workloads has", id, describe(labels), service)
}

func subset(claimed, actual map[string]string) bool {
	for k, v := range claimed {
		if a, ok := actual[k]; !ok || a != v {
			return false
		}
	}
	return true
}

func describe(labels map[string]string) string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(labels)) {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %s", k, labels[k])
	}
	return b.String()
}

// Labels are the whole labels of the one workload of id that a check's
// claims fit, for what is written back as a selector (learn mode): a claim of
// fewer labels may read its policies but must not become a wider selector.
// ok is false when no workload, or more than one, fits.
func (r *Registry) Labels(id string, claimed map[string]string, service string) (labels map[string]string, ok bool) {
	for _, w := range r.byID[id] {
		if subset(claimed, w.Labels) && (service == "" || slices.Contains(w.Services, service)) {
			if ok {
				return nil, false
			}
			labels, ok = w.Labels, true
		}
	}
	return labels, ok && len(labels) > 0
}

// Len is how many identities the registry knows.
func (r *Registry) Len() int { return len(r.byID) }
