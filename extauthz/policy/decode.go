package policy

import (
	"google.golang.org/protobuf/encoding/protojson"
	"gopkg.in/yaml.v3"
	securityv1beta1 "istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/meshward/meshward/internal/yamlstrict"
)

// decodeError is a decoder's complaint about the part of the resource at
// near; it reads as an error of path.
type decodeError struct {
	path, near []any
	msg        string
}

func (e *decodeError) Error() string { return pathString(e.path) + ": " + e.msg }

// parseAuthorizationPolicy decodes and compiles an AuthorizationPolicy. A
// policy of 10,000 rules is a YAML tree of some 30 MB, several times the
// compiled policy: its rules are decoded and compiled one at a time, each
// rule's part of the tree dropped once compiled, so that the tree, the
// decoded objects and the compiled policy never all live at once.
func parseAuthorizationPolicy(root *yaml.Node) (*Policy, error) {
	if err := plainYAML(root); err != nil {
		return nil, err
	}
	ap, spec, err := decodeMeta(root)
	if err != nil || spec == nil {
		return compileOrErr(ap, err)
	}
	if err := checkEmptyLists(spec); err != nil {
		return nil, err
	}
	if rules, rest := splitRules(spec); rules != nil && yamlstrict.Plain(spec) {
		return compileByRule(ap, rest, rules)
	}
	// Aliases (their expansion is bounded per decode) or rules that are not a
	// list: the spec is decoded whole.
	return compileWhole(ap, spec)
}

func compileOrErr(ap *securityv1.AuthorizationPolicy, err error) (*Policy, error) {
	if err != nil {
		return nil, err
	}
	return Compile(ap)
}

// decodeMeta decodes all but the spec, which it returns.
func decodeMeta(root *yaml.Node) (*securityv1.AuthorizationPolicy, *yaml.Node, error) {
	var spec *yaml.Node
	meta := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "spec":
			spec = root.Content[i+1]
		case "status":
		default:
			meta.Content = append(meta.Content, root.Content[i], root.Content[i+1])
		}
	}
	metaJSON, err := yamlstrict.JSON(meta)
	if err != nil {
		return nil, nil, err
	}
	ap := &securityv1.AuthorizationPolicy{}
	if err := sigsyaml.UnmarshalStrict(metaJSON, ap); err != nil {
		return nil, nil, err
	}
	return ap, spec, nil
}

func compileWhole(ap *securityv1.AuthorizationPolicy, spec *yaml.Node) (*Policy, error) {
	specJSON, err := yamlstrict.JSON(spec)
	if err != nil {
		return nil, err
	}
	// protojson, not the type's own UnmarshalJSON: it rejects unknown fields.
	if err := protojson.Unmarshal(specJSON, &ap.Spec); err != nil {
		return nil, &decodeError{[]any{"spec"}, []any{"spec"}, cleanProtoErr(err)}
	}
	return Compile(ap)
}

// splitRules returns the spec's list of rules and a mapping of its other
// fields, or nil when it has no such list (or names rules twice, which the
// whole decode refuses).
func splitRules(spec *yaml.Node) (rules, rest *yaml.Node) {
	if spec.Kind != yaml.MappingNode {
		return nil, nil
	}
	rest = &yaml.Node{Kind: yaml.MappingNode, Line: spec.Line, Column: spec.Column}
	for i := 0; i+1 < len(spec.Content); i += 2 {
		if spec.Content[i].Value != "rules" {
			rest.Content = append(rest.Content, spec.Content[i], spec.Content[i+1])
			continue
		}
		if rules != nil || spec.Content[i+1].Kind != yaml.SequenceNode {
			return nil, nil
		}
		rules = spec.Content[i+1]
	}
	return rules, rest
}

func compileByRule(ap *securityv1.AuthorizationPolicy, rest, rules *yaml.Node) (*Policy, error) {
	restJSON, err := yamlstrict.AppendJSON(nil, rest)
	if err != nil {
		return nil, err
	}
	if err := protojson.Unmarshal(restJSON, &ap.Spec); err != nil {
		return nil, &decodeError{[]any{"spec"}, []any{"spec"}, cleanProtoErr(err)}
	}
	p, err := compileHeader(ap, len(rules.Content))
	if err != nil {
		return nil, err
	}
	var buf []byte
	for i, n := range rules.Content {
		if buf, err = yamlstrict.AppendJSON(buf[:0], n); err != nil {
			return nil, err
		}
		r := &securityv1beta1.Rule{}
		if err := protojson.Unmarshal(buf, r); err != nil {
			return nil, &decodeError{[]any{"spec"}, []any{"spec", "rules", i}, cleanProtoErr(err)}
		}
		if err := p.addRule(r, i); err != nil {
			return nil, err
		}
		rules.Content[i] = nil
	}
	return p, nil
}
