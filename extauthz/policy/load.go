package policy

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"runtime/debug"

	"gopkg.in/yaml.v3"
	sigsyaml "sigs.k8s.io/yaml"

	meshwardv1alpha1 "github.com/meshward/meshward/api/meshward/v1alpha1"
	"github.com/meshward/meshward/internal/yamlstrict"
)

// Document is one parsed resource of a policy file.
type Document struct {
	Policy   *Policy
	Settings *Settings
}

type header struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
}

// ParseFile parses every document of a YAML file. Errors read
// file:line: what is wrong.
func ParseFile(name string, data []byte) ([]Document, error) {
	if len(data) >= largeFile {
		defer holdGC()()
	}
	var docs []Document
	err := yamlstrict.Documents(name, data, func(root *yaml.Node, _ int) error {
		d, err := parseDocument(name, root)
		if err != nil {
			return err
		}
		docs = append(docs, d)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return docs, nil
}

func parseDocument(file string, root *yaml.Node) (Document, error) {
	where := func(n *yaml.Node) string { return fmt.Sprintf("%s:%d", file, n.Line) }
	if root.Kind != yaml.MappingNode {
		return Document{}, fmt.Errorf("%s: a resource must be a mapping", where(root))
	}
	var h header
	if err := root.Decode(&h); err != nil {
		return Document{}, fmt.Errorf("%s: %v", where(root), err)
	}
	if h.Metadata.Name == "" {
		return Document{}, fmt.Errorf("%s: metadata.name is required", where(root))
	}
	switch {
	case h.Kind == "AuthorizationPolicy" && (h.APIVersion == "security.istio.io/v1" || h.APIVersion == "security.istio.io/v1beta1"):
		p, err := parseAuthorizationPolicy(root)
		if err != nil {
			return Document{}, locate(file, root, err)
		}
		p.Source = where(root)
		return Document{Policy: p}, nil
	case h.Kind == meshwardv1alpha1.Kind && h.APIVersion == meshwardv1alpha1.APIVersion:
		st, err := parseMeshwardPolicy(root)
		if err != nil {
			return Document{}, locate(file, root, err)
		}
		st.Source = where(root)
		return Document{Settings: st}, nil
	}
	return Document{}, fmt.Errorf("%s: %s %q is not a policy kind (want AuthorizationPolicy of security.istio.io/v1 or %s of %s)",
		where(root), h.APIVersion, h.Kind, meshwardv1alpha1.Kind, meshwardv1alpha1.APIVersion)
}

// checkEmptyLists refuses `from: []` and `to: []`, which Istio refuses and
// which decode the same as no list at all (any source, any operation).
func checkEmptyLists(spec *yaml.Node) error {
	rules := walk(spec, []any{"rules"})
	if rules == nil || rules.Kind != yaml.SequenceNode {
		return nil
	}
	for i := range rules.Content {
		for _, key := range []string{"from", "to"} {
			if n := walk(rules, []any{i, key}); n != nil && n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
				return &fieldError{[]any{"spec", "rules", i, key}, "an empty list (Istio refuses it); leave it out to match any " + map[string]string{"from": "source", "to": "operation"}[key]}
			}
		}
	}
	return nil
}

func parseMeshwardPolicy(root *yaml.Node) (*Settings, error) {
	js, err := yamlstrict.JSON(root)
	if err != nil {
		return nil, err
	}
	var mp meshwardv1alpha1.MeshwardPolicy
	if err := sigsyaml.UnmarshalStrict(js, &mp); err != nil {
		return nil, err
	}
	return CompileSettings(&mp)
}

var quotedField = regexp.MustCompile(`(?:unknown field|field) "?([A-Za-z_]+)"?`)

// protoNoise is protojson's "proto: (line 1:123): " prefix; the line counts in
// the JSON we made, not in the user's file, and protobuf-go varies the space
// after "proto:" (sometimes U+00A0) so that nobody matches on it.
var protoNoise = regexp.MustCompile(`^proto:[\s\x{00a0}]*|\(line \d+:\d+\):[\s\x{00a0}]*`)

func cleanProtoErr(err error) string {
	return protoNoise.ReplaceAllString(err.Error(), "")
}

// locate turns an error into file:line: message, finding the line from the
// error's field path, or else from a field name the message quotes.
func locate(file string, root *yaml.Node, err error) error {
	line := root.Line
	var fe *fieldError
	var de *decodeError
	var ye *yamlstrict.Error
	msg := err.Error()
	switch {
	case errors.As(err, &ye):
		line, msg = ye.Line, ye.Msg
	case errors.As(err, &de):
		// A decoder's message quoting a field is placed at that field,
		// looked for below where it decoded.
		if n := walk(root, de.near); n != nil {
			line = n.Line
			if m := quotedField.FindStringSubmatch(de.msg); m != nil {
				if k := findKey(n, m[1]); k != nil {
					line = k.Line
				}
			}
		}
	case errors.As(err, &fe):
		// The deepest node of the path that is written: a missing field
		// ("source" of a from entry) is reported where it should be.
		for i := len(fe.path); i > 0; i-- {
			if n := walk(root, fe.path[:i]); n != nil {
				line = n.Line
				break
			}
		}
		if m := quotedField.FindStringSubmatch(fe.msg); m != nil && len(fe.path) == 1 {
			if n := findKey(walk(root, fe.path), m[1]); n != nil {
				line = n.Line
			}
		}
	default:
		if m := quotedField.FindStringSubmatch(msg); m != nil {
			if n := findKey(root, m[1]); n != nil {
				line = n.Line
			}
		}
	}
	return fmt.Errorf("%s:%d: %s", file, line, msg)
}

// walk follows a path of mapping keys and sequence indexes.
func walk(n *yaml.Node, path []any) *yaml.Node {
	for _, p := range path {
		if n == nil {
			return nil
		}
		switch p := p.(type) {
		case string:
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content) && n.Kind == yaml.MappingNode; i += 2 {
				if n.Content[i].Value == p {
					next = n.Content[i+1]
				}
			}
			n = next
		case int:
			if n.Kind != yaml.SequenceNode || p >= len(n.Content) {
				return nil
			}
			n = n.Content[p]
		}
	}
	return n
}

// findKey returns the first mapping key named key below n, depth first.
func findKey(n *yaml.Node, key string) *yaml.Node {
	if n == nil {
		return nil
	}
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 && c.Value == key {
			return c
		}
		if k := findKey(c, key); k != nil {
			return k
		}
	}
	return nil
}

// Load parses files and directories (their *.yaml and *.yml files, recursively)
// into one Set. It reports every invalid file, each as file:line: reason.
func Load(paths ...string) (*Set, error) {
	files, err := yamlstrict.Files(paths)
	if err != nil {
		return nil, err
	}
	b := newBuilder()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.errs = append(b.errs, err)
			continue
		}
		b.parse(f, data)
	}
	return b.set()
}

// Parse builds a Set from the contents of one file.
func Parse(name string, data []byte) (*Set, error) {
	b := newBuilder()
	b.parse(name, data)
	return b.set()
}

type builder struct {
	policies []*Policy
	settings []*Settings
	seen     map[string]string
	errs     []error
	large    bool // a large file was parsed: its garbage is worth returning
}

func newBuilder() *builder {
	return &builder{seen: map[string]string{}}
}

func (b *builder) parse(name string, data []byte) {
	b.large = b.large || len(data) >= largeFile
	docs, err := ParseFile(name, data)
	if err != nil {
		b.errs = append(b.errs, err)
		return
	}
	for _, d := range docs {
		if err := b.add(d); err != nil {
			b.errs = append(b.errs, err)
		}
	}
}

func (b *builder) set() (*Set, error) {
	if b.large {
		// The trees are garbage now; a long-running authorizer would
		// otherwise keep their pages until the scavenger got to them.
		defer debug.FreeOSMemory()
	}
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	return newSet(b.policies, b.settings), nil // the builder's own, compiled for this set
}

func (b *builder) add(d Document) error {
	var key, src string
	if d.Policy != nil {
		key, src = "AuthorizationPolicy "+d.Policy.Namespace+"/"+d.Policy.Name, d.Policy.Source
	} else {
		key, src = "MeshwardPolicy of namespace "+d.Settings.Namespace, d.Settings.Source
	}
	if prev, dup := b.seen[key]; dup {
		return fmt.Errorf("%s: %s is already defined at %s", src, key, prev)
	}
	b.seen[key] = src
	if d.Policy != nil {
		b.policies = append(b.policies, d.Policy)
	} else {
		b.settings = append(b.settings, d.Settings)
	}
	return nil
}
