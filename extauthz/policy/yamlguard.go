package policy

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/meshward/meshward/internal/yamlstrict"
)

// Field names of an AuthorizationPolicy's top level and of its metadata.
var (
	rootFields = []string{"apiVersion", "kind", "metadata", "spec", "status"}
	metaFields = []string{"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
		"creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
		"ownerReferences", "finalizers", "managedFields"}
)

// plainYAML refuses what YAML libraries and decoders read differently, so
// that a policy file means here what it means to Istio: aliases and merge
// keys (kubectl's and istioctl's sigs.k8s.io/yaml applies << where it stands
// while yaml.v3 lets written keys win, and an alias can hide an empty list
// from the check Istio makes), and field names that differ from the API's
// only in case (encoding/json matches them case-insensitively, so "Spec:"
// would be read as the spec, unchecked, and "Annotations:" as annotations).
func plainYAML(root *yaml.Node) error {
	if err := noAliases(root); err != nil {
		return err
	}
	if err := caseExactKeys(root, rootFields); err != nil {
		return err
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "metadata" {
			return caseExactKeys(root.Content[i+1], metaFields)
		}
	}
	return nil
}

func noAliases(n *yaml.Node) error {
	switch {
	case n.Kind == yaml.AliasNode:
		return &yamlstrict.Error{Line: n.Line, Msg: "YAML aliases are not accepted in policies (YAML libraries expand them differently)"}
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!merge":
		return &yamlstrict.Error{Line: n.Line, Msg: "YAML merge keys (<<) are not accepted in policies (kubectl's YAML and this one apply them differently)"}
	}
	for _, c := range n.Content {
		if err := noAliases(c); err != nil {
			return err
		}
	}
	return nil
}

// caseExactKeys refuses a mapping key that names a known field in another case.
func caseExactKeys(m *yaml.Node, known []string) error {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i < len(m.Content); i += 2 {
		k := m.Content[i].Value
		for _, f := range known {
			if k != f && strings.EqualFold(k, f) {
				return &yamlstrict.Error{Line: m.Content[i].Line, Msg: fmt.Sprintf("field %q: field names are case-sensitive (want %q)", k, f)}
			}
		}
	}
	return nil
}
