package yamlstrict

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// ErrNotPlain is returned by AppendJSON for a node that uses aliases, merge
// keys or collection tags: their meaning is yaml.v3's decoder's to give, and
// its limits on alias expansion apply only to one decode of a whole tree.
var ErrNotPlain = errors.New("aliases, merge keys or tagged collections: decode as a whole")

// Error is a conversion error at a line of the file.
type Error struct {
	Line int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

func errorf(n *yaml.Node, format string, args ...any) error {
	return &Error{n.Line, fmt.Sprintf(format, args...)}
}

// maxDepth bounds recursion on hostile nesting; yaml.v3's parser stops
// far earlier (10,000), so this is a second fence, not the first.
const maxDepth = 10_000

// Plain reports whether AppendJSON can convert n: no aliases, merge keys or
// tagged collections anywhere below it.
func Plain(n *yaml.Node) bool {
	return plain(n, 0)
}

func plain(n *yaml.Node, depth int) bool {
	if n == nil || depth > maxDepth {
		return false
	}
	switch n.Kind {
	case yaml.AliasNode:
		return false
	case yaml.ScalarNode:
		return n.ShortTag() != "!!merge"
	case 0:
		return n.IsZero()
	case yaml.MappingNode, yaml.SequenceNode, yaml.DocumentNode:
		if t := n.ShortTag(); n.Kind != yaml.DocumentNode && t != "!!map" && t != "!!seq" {
			return false
		}
		for _, c := range n.Content {
			if !plain(c, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}

// AppendJSON appends n as JSON to dst, giving what decoding n into an `any`
// and json.Marshal would, without building either: strings are written
// straight from the nodes, and mapping keys keep the file's order. Other
// scalars (numbers, booleans, timestamps, binary) go through yaml.v3's own
// resolution so that they mean what they meant before. Errors name the line.
func AppendJSON(dst []byte, n *yaml.Node) ([]byte, error) {
	return appendNode(dst, n, 0)
}

func appendNode(dst []byte, n *yaml.Node, depth int) ([]byte, error) {
	if depth > maxDepth {
		return dst, errorf(n, "nested more than %d deep", maxDepth)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return append(dst, "null"...), nil
		}
		return appendNode(dst, n.Content[0], depth+1)
	case yaml.ScalarNode:
		return appendScalar(dst, n)
	case yaml.SequenceNode:
		if n.ShortTag() != "!!seq" {
			return dst, ErrNotPlain
		}
		return appendSequence(dst, n, depth)
	case yaml.MappingNode:
		if n.ShortTag() != "!!map" {
			return dst, ErrNotPlain
		}
		return appendMapping(dst, n, depth)
	case yaml.AliasNode:
		return dst, ErrNotPlain
	case 0:
		if n.IsZero() { // an empty document
			return append(dst, "null"...), nil
		}
	}
	return dst, errorf(n, "a node of unknown kind %d", n.Kind)
}

func appendSequence(dst []byte, n *yaml.Node, depth int) ([]byte, error) {
	dst = append(dst, '[')
	for i, c := range n.Content {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = appendNode(dst, c, depth+1); err != nil {
			return dst, err
		}
	}
	return append(dst, ']'), nil
}

func appendMapping(dst []byte, n *yaml.Node, depth int) ([]byte, error) {
	if err := checkKeys(n); err != nil {
		return dst, err
	}
	dst = append(dst, '{')
	for i := 0; i+1 < len(n.Content); i += 2 {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, n.Content[i].Value)
		dst = append(dst, ':')
		var err error
		if dst, err = appendNode(dst, n.Content[i+1], depth+1); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// smallMapping is the size up to which duplicate keys are found by
// comparing pairs; larger mappings use a set, so that a hostile mapping of
// many keys costs linear time.
const smallMapping = 16

// checkKeys refuses what the decoder refuses: keys that are not strings (a
// JSON object cannot hold them), merge keys, and keys given twice (which
// value would win is a guess a security policy must not make).
func checkKeys(n *yaml.Node) error {
	var seen map[string]int
	if len(n.Content)/2 > smallMapping {
		seen = make(map[string]int, len(n.Content)/2)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		switch {
		case k.Kind == yaml.AliasNode || k.ShortTag() == "!!merge":
			return ErrNotPlain
		case k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str":
			return errorf(k, "mapping key %q is not a string", k.Value)
		}
		if prev := firstKey(n, i, seen); prev != nil {
			return errorf(k, "mapping key %q already defined at line %d", k.Value, prev.Line)
		}
	}
	return nil
}

// firstKey returns an earlier key of n equal to the key at i.
func firstKey(n *yaml.Node, i int, seen map[string]int) *yaml.Node {
	k := n.Content[i].Value
	if seen == nil {
		for j := 0; j < i; j += 2 {
			if n.Content[j].Value == k {
				return n.Content[j]
			}
		}
		return nil
	}
	if j, ok := seen[k]; ok {
		return n.Content[j]
	}
	seen[k] = i
	return nil
}

func appendScalar(dst []byte, n *yaml.Node) ([]byte, error) {
	switch n.ShortTag() {
	case "!!str":
		return appendString(dst, n.Value), nil
	case "!!null":
		return append(dst, "null"...), nil
	case "!!merge":
		return dst, ErrNotPlain
	case "!!timestamp":
		// Kubernetes' YAML (sigs.k8s.io/yaml) keeps an unquoted date a
		// string; yaml.v3 would make 2023-01-01 into 2023-01-01T00:00:00Z,
		// and a policy value would no longer match what Istio matches.
		if n.Style&yaml.TaggedStyle == 0 {
			return appendString(dst, n.Value), nil
		}
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return dst, errorf(n, "%v", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return dst, errorf(n, "%v", err)
	}
	return append(dst, b...), nil
}

const hex = "0123456789abcdef"

// appendString writes s as a JSON string; invalid UTF-8 becomes U+FFFD,
// as encoding/json writes it.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, `\ufffd`...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
		i++
	}
	return append(dst, '"')
}

// JSON converts n with AppendJSON, or, when n is not plain, by decoding it
// whole into an `any` (under the decoder's alias limits) and marshalling that.
func JSON(n *yaml.Node) ([]byte, error) {
	if Plain(n) {
		return AppendJSON(nil, n)
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}
