// Package yamlstrict decodes meshward's YAML files (policies, catalogs) so
// that a misspelt key is an error with its line, not a silently wider rule.
package yamlstrict

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrEmpty is returned for a document with nothing in it.
var ErrEmpty = errors.New("empty document")

// Decode reads one document into v, rejecting unknown keys.
func Decode(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return ErrEmpty
		}
		return err
	}
	return nil
}

// DecodeNode decodes n into v after checking every mapping key against v's
// yaml field names, recursively; errors carry the key's line. (yaml.Node's
// own Decode has no known-fields check.)
func DecodeNode(n *yaml.Node, v any) error {
	if err := check(n, reflect.TypeOf(v)); err != nil {
		return err
	}
	return n.Decode(v)
}

func check(n *yaml.Node, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		return checkStruct(n, t)
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && n.Kind == yaml.SequenceNode:
		for _, c := range n.Content {
			if err := check(c, t.Elem()); err != nil {
				return err
			}
		}
	}
	return nil // type mismatches are Decode's to report
}

func checkStruct(n *yaml.Node, t reflect.Type) error {
	fields := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			fields[name] = t.Field(i).Type
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		ft, ok := fields[k.Value]
		if !ok {
			return fmt.Errorf("line %d: unknown field %q (want %s)", k.Line, k.Value, strings.Join(sortedKeys(fields), ", "))
		}
		if err := check(n.Content[i+1], ft); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys(m map[string]reflect.Type) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Documents calls each for the root node of every non-empty document of a
// multi-document stream, in order, with the document's line; it stops at
// the first error. A stream that does not parse is an error saying name.
func Documents(name string, data []byte, each func(root *yaml.Node, line int) error) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
		if len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" {
			continue
		}
		if err := each(doc.Content[0], doc.Line); err != nil {
			return err
		}
	}
}

// Files lists the YAML files (*.yaml, *.yml) named by paths, files or
// directories walked, sorted. Hidden entries are skipped: a ConfigMap
// volume's ..2026_* data directory would otherwise load every file twice.
func Files(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case d.IsDir() && path != p && strings.HasPrefix(d.Name(), "."):
				return fs.SkipDir
			case !d.IsDir() && !strings.HasPrefix(d.Name(), ".") &&
				(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")):
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(files)
	return files, nil
}
