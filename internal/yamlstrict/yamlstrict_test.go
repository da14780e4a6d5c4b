package yamlstrict

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type inner struct {
	Port uint32 `yaml:"port"`
}

type outer struct {
	Name  string  `yaml:"name"`
	Items []inner `yaml:"items"`
	Ptr   *inner  `yaml:"ptr,omitempty"`
	Skip  int     `yaml:"-"`
}

func TestDecodeNode(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"ok", "name: a\nitems: [{port: 1}]\nptr: {port: 2}\n", ""},
		{"top typo", "name: a\nnmae: b\n", `line 2: unknown field "nmae" (want items, name, ptr)`},
		{"nested typo", "name: a\nitems:\n  - port: 1\n  - prot: 2\n", `line 4: unknown field "prot" (want port)`},
		{"pointer typo", "ptr:\n  porte: 1\n", `line 2: unknown field "porte"`},
		{"dash field", "Skip: 1\n", `unknown field "Skip"`},
		{"type mismatch", "items: 3\n", "cannot unmarshal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tc.in), &doc); err != nil {
				t.Fatal(err)
			}
			var o outer
			err := DecodeNode(doc.Content[0], &o)
			if tc.want == "" {
				if err != nil || o.Name != "a" || o.Items[0].Port != 1 || o.Ptr.Port != 2 {
					t.Fatalf("got %+v, %v", o, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	var o outer
	if err := Decode([]byte("  \n"), &o); !errors.Is(err, ErrEmpty) {
		t.Fatalf("empty: %v", err)
	}
	if err := Decode([]byte("nam: x\n"), &o); err == nil || !strings.Contains(err.Error(), "field nam not found") {
		t.Fatalf("unknown: %v", err)
	}
}

// Files walks directories for *.yaml and *.yml, skips hidden entries (a
// ConfigMap's ..data directory would list every file twice), keeps a file
// named directly, and sorts.
func TestFiles(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"b.yaml", "a.yml", "c.txt", ".hidden.yaml", "..2026_12_02/a.yaml", "sub/d.yaml"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	single := filepath.Join(dir, "c.txt")
	got, err := Files([]string{dir, single})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a.yml"), filepath.Join(dir, "b.yaml"), single, filepath.Join(dir, "sub/d.yaml")}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if _, err := Files([]string{filepath.Join(dir, "missing")}); err == nil {
		t.Fatal("a missing path was accepted")
	}
}
