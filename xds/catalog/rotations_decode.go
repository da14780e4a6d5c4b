package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	meshwardv1alpha1 "github.com/meshward/meshward/api/meshward/v1alpha1"
	"github.com/meshward/meshward/internal/yamlstrict"
)

var rotationType = reflect.TypeFor[meshwardv1alpha1.MeshwardRotation]()

// decodeRotation turns one document into a Rotation. It reads the document
// as the API server would (YAML to JSON, then the kind's JSON fields), but
// more strictly: see plainTree and knownFields.
func decodeRotation(file string, root *yaml.Node) (Rotation, error) {
	if root.Kind != yaml.MappingNode {
		return Rotation{}, fmt.Errorf("%s:%d: a MeshwardRotation must be a mapping", file, root.Line)
	}
	mr, err := decodeObject(root)
	if err != nil {
		return Rotation{}, locate(file, root, err)
	}
	r, err := NewRotation(mr, fmt.Sprintf("%s:%d", file, root.Line))
	if err != nil {
		return Rotation{}, locate(file, root, err)
	}
	return r, nil
}

func decodeObject(root *yaml.Node) (*meshwardv1alpha1.MeshwardRotation, error) {
	if err := plainTree(root); err != nil {
		return nil, err
	}
	if err := checkKind(root); err != nil {
		return nil, err
	}
	if err := knownFields(root, rotationType); err != nil {
		return nil, err
	}
	js, err := yamlstrict.JSON(root) // refuses duplicate and non-string keys
	if err != nil {
		return nil, err
	}
	var mr meshwardv1alpha1.MeshwardRotation
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&mr); err != nil {
		return nil, err
	}
	return &mr, nil
}

// plainTree refuses what YAML libraries read differently, as the policy
// loader does: aliases and merge keys (kubectl's YAML applies << where it
// stands, yaml.v3 lets written keys win; an alias can hide a value from a
// reviewer), and tagged collections, whose meaning is the decoder's guess.
func plainTree(n *yaml.Node) error {
	switch {
	case n.Kind == yaml.AliasNode:
		return &yamlstrict.Error{Line: n.Line, Msg: "YAML aliases are not accepted (YAML libraries expand them differently)"}
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!merge":
		return &yamlstrict.Error{Line: n.Line, Msg: "YAML merge keys (<<) are not accepted (kubectl's YAML and this one apply them differently)"}
	case n.Kind == yaml.MappingNode && n.ShortTag() != "!!map", n.Kind == yaml.SequenceNode && n.ShortTag() != "!!seq":
		return &yamlstrict.Error{Line: n.Line, Msg: fmt.Sprintf("tagged collections (%s) are not accepted", n.Tag)}
	}
	for _, c := range n.Content {
		if err := plainTree(c); err != nil {
			return err
		}
	}
	return nil
}

func checkKind(root *yaml.Node) error {
	var api, kind string
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "apiVersion":
			api = root.Content[i+1].Value
		case "kind":
			kind = root.Content[i+1].Value
		}
	}
	if api != meshwardv1alpha1.APIVersion || kind != meshwardv1alpha1.RotationKind {
		return &yamlstrict.Error{Line: root.Line, Msg: fmt.Sprintf("kind %q of apiVersion %q is not a %s (want apiVersion %s)",
			kind, api, meshwardv1alpha1.RotationKind, meshwardv1alpha1.APIVersion)}
	}
	return nil
}

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

// knownFields refuses a mapping key that no JSON field of t names exactly.
// encoding/json would match "Spec" or "EVERY" case-insensitively, and a
// rotation that means something else than it reads is worse than none.
func knownFields(n *yaml.Node, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		return nil // metav1.Time and the like read their own JSON
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := jsonFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				return &yamlstrict.Error{Line: k.Line, Msg: fmt.Sprintf("unknown field %q (want %s)", k.Value, fieldNames(fields))}
			}
			if err := knownFields(n.Content[i+1], ft); err != nil {
				return err
			}
		}
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Map) && (n.Kind == yaml.SequenceNode || n.Kind == yaml.MappingNode):
		for i, c := range n.Content {
			if n.Kind == yaml.SequenceNode || i%2 == 1 {
				if err := knownFields(c, t.Elem()); err != nil {
					return err
				}
			}
		}
	}
	return nil // a type mismatch is the JSON decoder's to report
}

// jsonFields maps the JSON names of t's fields, inlined embedded structs
// included, to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case !f.IsExported() || name == "-":
		case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
			for k, v := range jsonFields(f.Type) {
				m[k] = v
			}
		case name == "":
			m[f.Name] = f.Type
		default:
			m[name] = f.Type
		}
	}
	return m
}

func fieldNames(m map[string]reflect.Type) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
