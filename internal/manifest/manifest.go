// Package manifest reads what the Kubernetes manifests in manifests/ run, so
// that each command's tests can check its shipped arguments against its own
// flags.
package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"
)

// Args returns the first container's args of the object of kind and name in
// the multi-document YAML file.
func Args(file, kind, name string) ([]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc struct {
			Kind     string
			Metadata struct{ Name string }
			Spec     struct {
				Template struct {
					Spec struct {
						Containers []struct{ Args []string }
					}
				}
			}
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: no %s %q", file, kind, name)
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if doc.Kind == kind && doc.Metadata.Name == name && len(doc.Spec.Template.Spec.Containers) > 0 {
			return doc.Spec.Template.Spec.Containers[0].Args, nil
		}
	}
}
