package policy

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// bothWays compiles every AuthorizationPolicy of a file rule by rule (as
// Parse does) and decoded whole, from separate trees (rule by rule drops
// nodes as it goes).
func bothWays(data []byte) (byRule, whole []*Policy, errs [2]error, ok bool) {
	for i, into := range []*[]*Policy{&byRule, &whole} {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var doc yaml.Node
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
				return nil, nil, errs, false // not this test's subject
			}
			root := doc.Content[0]
			if k := walk(root, []any{"kind"}); k != nil && k.Value != "AuthorizationPolicy" {
				continue
			}
			var p *Policy
			if i == 0 {
				p, err = parseAuthorizationPolicy(root)
			} else {
				p, err = parseWhole(root)
			}
			if err != nil {
				errs[i] = err
				break
			}
			*into = append(*into, p)
		}
	}
	return byRule, whole, errs, true
}

func parseWhole(root *yaml.Node) (*Policy, error) {
	ap, spec, err := decodeMeta(root)
	if err != nil || spec == nil {
		return compileOrErr(ap, err)
	}
	if err := checkEmptyLists(spec); err != nil {
		return nil, err
	}
	return compileWhole(ap, spec)
}

// Rule by rule compiles what decoding the spec whole compiles.
func TestDecodeByRuleAgreesWithWhole(t *testing.T) {
	for name, in := range map[string]string{
		"shop":                                 shopPolicies,
		"generated":                            generatedPolicies(300),
		"no rules":                             "kind: AuthorizationPolicy\nspec: {action: ALLOW}\n",
		"rules last, other fields after rules": "spec:\n  rules:\n  - to: [{operation: {paths: [/x]}}]\n  action: DENY\n  selector: {matchLabels: {app: a}}\n",
	} {
		byRule, whole, errs, ok := bothWays([]byte(in))
		if !ok || errs[0] != nil || errs[1] != nil {
			t.Fatalf("%s: errors %v (YAML ok: %v)", name, errs, ok)
		}
		if len(byRule) == 0 || !reflect.DeepEqual(byRule, whole) {
			t.Errorf("%s: rule by rule and whole differ", name)
		}
	}
}

func generatedPolicies(n int) string {
	var b strings.Builder
	b.WriteString("spec:\n  rules:\n")
	for i := 0; i < n; i++ {
		switch i % 3 {
		case 0:
			b.WriteString("  - from: [{source: {principals: [cluster.local/ns/shop/sa/c" + strings.Repeat("x", i%7) + "]}}]\n    to: [{operation: {methods: [GET, POST], paths: [\"/api/*\"]}}]\n")
		case 1:
			b.WriteString("  - from: [{source: {namespaces: [tenant], notIpBlocks: [10.0.0.0/8]}}]\n    when: [{key: \"request.headers[x-a]\", values: [b]}]\n")
		default:
			b.WriteString("  - to: [{operation: {hosts: [a.example.com], ports: [\"8080\"], notPaths: [/admin]}}]\n")
		}
	}
	return b.String()
}

// Errors of the rule-by-rule decoding say file:line of the offending key.
func TestDecodeByRuleErrors(t *testing.T) {
	ap := "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: shop}\nspec:\n"
	rule0 := "  rules:\n  - to: [{operation: {paths: [/a]}}]\n"
	for name, tc := range map[string]struct{ in, want string }{
		"a decoder error is placed in its own rule": {ap + rule0 + "  - to:\n    - operation:\n        paths: [1]\n",
			"p.yaml:9: spec: invalid value for string field paths: 1"},
		"unknown field in a later rule": {ap + rule0 + "  - to: [{operation: {methods: [GET]}}]\n    form: []\n",
			`p.yaml:8: spec: unknown field "form"`},
		"key given twice in a rule": {ap + rule0 + "  - to: [{operation: {paths: [/b]}}]\n    to: [{operation: {paths: [/c]}}]\n",
			`p.yaml:8: mapping key "to" already defined at line 7`},
		"key given twice in an operation": {ap + rule0 + "  - to: [{operation: {paths: [/b], paths: [/c]}}]\n",
			`p.yaml:7: mapping key "paths" already defined at line 7`},
		"rules given twice":          {ap + rule0 + rule0, `mapping key "rules" already defined`},
		"spec key given twice":       {ap + "  action: DENY\n" + rule0 + "  action: ALLOW\n", `p.yaml:8: mapping key "action" already defined at line 5`},
		"a key that is not a string": {ap + rule0 + "  - to: [{operation: {1: [/b]}}]\n", `p.yaml:7: mapping key "1" is not a string`},
		"an error after the first rules were dropped": {ap + rule0 + "  - to: [{operation: {paths: [\"/a/*/b\"]}}]\n",
			`p.yaml:7: spec.rules[1].to[0].operation.paths[0]: "/a/*/b"`},
		"rules not a list": {ap + "  rules: {to: []}\n", "p.yaml:5: spec: "},
	} {
		_, err := Parse("p.yaml", []byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v\nwant it to contain %q", name, err, tc.want)
		}
	}
}

// Anchors with aliases and merge keys are refused, with their line: kubectl's
// YAML library and this one expand them differently (red team 2).
func TestDecodeAliasesRefused(t *testing.T) {
	ap := "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: shop}\nspec:\n"
	for name, c := range map[string]struct{ in, want string }{
		"alias": {ap + "  rules:\n  - from: &callers [{source: {principals: [cluster.local/ns/shop/sa/frontend]}}]\n" +
			"    to: [{operation: {methods: [GET]}}]\n  - from: *callers\n", "p.yaml:8: YAML aliases are not accepted"},
		"merge key": {ap + "  rules:\n  - <<: {to: [{operation: {methods: [GET]}}]}\n", "p.yaml:6: YAML merge keys (<<) are not accepted"},
		"case":      {"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: shop}\nSpec: {}\n", `p.yaml:4: field "Spec": field names are case-sensitive (want "spec")`},
	} {
		if _, err := Parse("p.yaml", []byte(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

// FuzzDecodeByRule: on any input, rule by rule and whole decoding accept
// the same policies, compiled the same, and refuse the same.
func FuzzDecodeByRule(f *testing.F) {
	f.Add([]byte(shopPolicies))
	f.Add([]byte(generatedPolicies(7)))
	f.Add([]byte("spec:\n  rules:\n  - to: [{operation: {paths: [/a], paths: [/b]}}]\n  action: DENY\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return
		}
		byRule, whole, errs, ok := bothWays(data)
		if !ok {
			return
		}
		if (errs[0] == nil) != (errs[1] == nil) {
			t.Fatalf("rule by rule: %v; whole: %v", errs[0], errs[1])
		}
		if !reflect.DeepEqual(byRule, whole) {
			t.Fatal("rule by rule and whole compile differently")
		}
	})
}
