package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/meshward/meshward/internal/yamlstrict"
)

// fieldError is what is wrong with the field at path of a MeshwardRotation;
// near, if set, is the key below path that the message is about (the line
// to show, when it is written).
type fieldError struct {
	path []any
	near string
	msg  string
}

func (e *fieldError) Error() string { return pathString(e.path) + ": " + e.msg }

func errAt(path []any, format string, args ...any) error {
	return &fieldError{path: path, msg: fmt.Sprintf(format, args...)}
}

// spec is the path of a field of the spec.
func spec(p ...any) []any { return append([]any{"spec"}, p...) }

func pathString(path []any) string {
	var b strings.Builder
	for i, p := range path {
		switch p := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", p)
		default:
			if i > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, p)
		}
	}
	return b.String()
}

// locate turns an error about the document at root into file:line: what.
func locate(file string, root *yaml.Node, err error) error {
	line, msg := root.Line, err.Error()
	var ye *yamlstrict.Error
	var fe *fieldError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &ye):
		line, msg = ye.Line, ye.Msg
	case errors.As(err, &fe):
		line = lineOf(root, fe.path)
		if fe.near != "" {
			line = lineOf(root, append(fe.path[:len(fe.path):len(fe.path)], fe.near))
		}
	case errors.As(err, &te):
		var path []any
		for _, p := range strings.Split(te.Field, ".") {
			path = append(path, p)
		}
		line = lineOf(root, path)
		msg = fmt.Sprintf("%s: want %s, not %s", te.Field, jsonKind(te.Type), te.Value)
	}
	return fmt.Errorf("%s:%d: %s", file, line, msg)
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int32:
		return "a whole number of at most 32 bits"
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "a mapping"
	}
	return t.String()
}

// lineOf is the line of the deepest node of path that is written: a key's
// line for a field, an item's for a list index.
func lineOf(root *yaml.Node, path []any) int {
	line, n := root.Line, root
	for _, p := range path {
		key, val := child(n, p)
		if val == nil {
			break
		}
		line, n = key.Line, val
	}
	return line
}

func child(n *yaml.Node, p any) (key, val *yaml.Node) {
	switch p := p.(type) {
	case string:
		for i := 0; i+1 < len(n.Content) && n.Kind == yaml.MappingNode; i += 2 {
			if n.Content[i].Value == p {
				return n.Content[i], n.Content[i+1]
			}
		}
	case int:
		if n.Kind == yaml.SequenceNode && p >= 0 && p < len(n.Content) {
			return n.Content[p], n.Content[p]
		}
	}
	return nil, nil
}
