package yamlstrict

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// viaAny is the conversion AppendJSON replaces.
func viaAny(n *yaml.Node) ([]byte, error) {
	untagTimestamps(n)
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// untagTimestamps makes the oracle read an untagged date as Kubernetes'
// YAML does, a string (yaml.v3 alone makes it a time).
func untagTimestamps(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!timestamp" && n.Style&yaml.TaggedStyle == 0 {
		n.Tag = "!!str"
	}
	for _, c := range n.Content {
		untagTimestamps(c)
	}
}

func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func TestAppendJSON(t *testing.T) {
	tests := []struct{ name, in, err string }{
		{"strings", "a: x\nb: 'q\"uote\\\\'\nc: \"tab\\there\\u0001\"\nd: ünï\n", ""},
		{"scalars", "i: 1\nf: 2.5\nbig: 123456789012345678901\nt: true\nn: ~\ne:\nhex: 0x1F\noct: 0o17\ninf: .inf\n", "unsupported value"},
		{"numbers", "i: -3\nf: 1e3\ns: '1'\nport: \"8080\"\n", ""},
		{"timestamp untagged stays a string", "t: 2001-12-14\n", ""},
		{"timestamp tagged", "t: !!timestamp 2001-12-14\n", ""},
		{"binary", "b: !!binary aGVsbG8=\n", ""},
		{"nested", "spec:\n  rules:\n  - from: [{source: {principals: [a, b]}}]\n  - {}\n  - []\n", ""},
		{"flow and block", "a: {b: [1, {c: d}], e: []}\nf:\n- - g\n", ""},
		{"empty document", "", ""},
		{"top-level sequence", "- a\n- 1\n", ""},
		{"duplicate key", "a: 1\nb: 2\na: 3\n", `line 3: mapping key "a" already defined at line 1`},
		{"duplicate among many keys", "k0: 0\nk1: 1\nk2: 2\nk3: 3\nk4: 4\nk5: 5\nk6: 6\nk7: 7\nk8: 8\nk9: 9\nk10: 0\nk11: 1\nk12: 2\nk13: 3\nk14: 4\nk15: 5\nk16: 6\nk3: 7\n", `line 18: mapping key "k3" already defined at line 4`},
		{"duplicate quoted key", "a: 1\n'a': 2\n", "already defined"},
		{"int key", "1: a\n", `line 1: mapping key "1" is not a string`},
		{"null key", "~: a\n", "not a string"},
		{"sequence key", "? [a]\n: b\n", "not a string"},
		{"bad tagged int", "a: !!int x\n", "line 1: yaml: cannot decode !!str `x` as a !!int"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tc.in), &doc); err != nil {
				t.Fatal(err)
			}
			got, err := AppendJSON([]byte("prefix"), &doc)
			want, wantErr := viaAny(&doc)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || wantErr == nil {
					t.Fatalf("err %v (decode+marshal: %v), want %q", err, wantErr, tc.err)
				}
				return
			}
			if err != nil || wantErr != nil {
				t.Fatalf("err %v (decode+marshal: %v)", err, wantErr)
			}
			if !strings.HasPrefix(string(got), "prefix") || !sameJSON(got[len("prefix"):], want) {
				t.Fatalf("got %s, decode+marshal gives %s", got, want)
			}
		})
	}
}

// Aliases and merge keys are left to the decoder, whose alias-expansion
// limits count over one whole decode: converting part by part would let a
// billion-laughs document through.
func TestAppendJSONRefusesAliases(t *testing.T) {
	for _, in := range []string{
		"a: &x [1]\nb: *x\n",
		"base: &b {x: 1}\nd:\n  <<: *b\n  y: 2\n",
		"a: !!set {x: null}\n",
		"a: !custom [x]\n",
	} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(in), &doc); err != nil {
			t.Fatal(err)
		}
		if Plain(&doc) {
			t.Errorf("%q: Plain says yes", in)
		}
		if _, err := AppendJSON(nil, &doc); !errors.Is(err, ErrNotPlain) {
			t.Errorf("%q: err %v, want ErrNotPlain", in, err)
		}
		if _, err := JSON(&doc); err != nil {
			t.Errorf("%q: JSON: %v", in, err)
		}
	}
}

// A billion-laughs document fails through JSON as through the decoder.
func TestJSONExcessiveAliasing(t *testing.T) {
	in := "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n" +
		"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n" +
		"g: [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(in), &doc); err != nil {
		t.Fatal(err)
	}
	if _, err := JSON(&doc); err == nil || !strings.Contains(err.Error(), "excessive aliasing") {
		t.Fatalf("err %v, want excessive aliasing", err)
	}
}

// FuzzAppendJSON: whatever YAML parses, AppendJSON says what decoding into
// an `any` and json.Marshal say, or refuses what they refuse.
func FuzzAppendJSON(f *testing.F) {
	for _, s := range []string{"a: x\n", "a: [1, {b: c}]\n", "a: 1\na: 2\n", "1: x\n", "a: &x 1\nb: *x\n",
		"spec:\n  rules:\n  - from: [{source: {principals: ['*']}}]\n", "a: !!binary aGk=\nb: .nan\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var doc yaml.Node
		if yaml.Unmarshal(data, &doc) != nil {
			return
		}
		got, err := AppendJSON(nil, &doc)
		if errors.Is(err, ErrNotPlain) {
			if Plain(&doc) {
				t.Fatalf("Plain says yes, AppendJSON says %v", err)
			}
			return // aliases can expand a short input a millionfold: not the subject here
		}
		want, wantErr := viaAny(&doc)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("err %v, decode+marshal err %v", err, wantErr)
		}
		if err == nil && !sameJSON(got, want) {
			t.Fatalf("got %s, decode+marshal gives %s", got, want)
		}
	})
}
