package catalog

import (
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/meshward/meshward/internal/yamlstrict"
)

// Rotation is a decoded, validated MeshwardRotation: the pools and schedule
// it gives its service. Make one with ParseRotations, LoadRotations or
// NewRotation.
type Rotation struct {
	Name, Namespace string
	Service         string
	Ports           []uint32
	PortRange       *PortRange
	Addresses       []string
	// Schedule is nil when the rotation has no `every`: the service then
	// moves when told, or by the server's default period.
	Schedule *Schedule
	// Source is where the rotation came from, file:line for a file.
	Source string
}

// MaxRotations bounds the rotations one load reads: more than one per
// service could never apply.
const MaxRotations = MaxServices

// LoadRotations reads files and directories (their *.yaml and *.yml files,
// recursively, dot-files and dot-directories left out). It reports every
// invalid file, each error as file:line: what.
func LoadRotations(paths ...string) ([]Rotation, error) {
	files, err := yamlstrict.Files(paths)
	if err != nil {
		return nil, err
	}
	var out []Rotation
	var errs []error
	for _, f := range files {
		rs, err := loadRotationFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, rs...)
		if len(out) > MaxRotations {
			return nil, fmt.Errorf("%s: more than %d rotations in all", f, MaxRotations)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func loadRotationFile(path string) ([]Rotation, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, err
	}
	return ParseRotations(path, data)
}

// ParseRotations decodes every MeshwardRotation of a multi-document YAML
// file; errors read name:line: what. Empty documents are skipped; any other
// kind is an error.
func ParseRotations(name string, data []byte) ([]Rotation, error) {
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, MaxFileBytes)
	}
	var out []Rotation
	err := yamlstrict.Documents(name, data, func(root *yaml.Node, line int) error {
		if len(out) == MaxRotations {
			return fmt.Errorf("%s:%d: more than %d rotations", name, line, MaxRotations)
		}
		r, err := decodeRotation(name, root)
		if err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
