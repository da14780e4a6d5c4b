package policy

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/meshward/meshward/internal/yamlstrict"
)

// fileRule is a rule as written in a policy file.
type fileRule struct {
	Name        string   `yaml:"name"`
	Source      string   `yaml:"source"`
	Destination string   `yaml:"destination"`
	Methods     []string `yaml:"methods"`
	Paths       []string `yaml:"paths"`
}

type file struct {
	Rules []yaml.Node `yaml:"rules"`
}

// LoadFile reads a policy file. Errors say file:line and what is wrong.
func LoadFile(path string) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse decodes policy YAML; name is used in error messages.
func Parse(name string, data []byte) (*Set, error) {
	var f file
	if err := yamlstrict.Decode(data, &f); err != nil {
		if errors.Is(err, yamlstrict.ErrEmpty) {
			return nil, fmt.Errorf("%s: empty policy file; want a top-level \"rules\" list", name)
		}
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	rules := make([]*Rule, 0, len(f.Rules))
	seen := map[string]int{}
	for i := range f.Rules {
		r, err := decodeRule(&f.Rules[i])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, f.Rules[i].Line, err)
		}
		if prev, dup := seen[r.Name]; dup {
			return nil, fmt.Errorf("%s:%d: rule name %q is already used at line %d", name, r.Line, r.Name, prev)
		}
		seen[r.Name] = r.Line
		rules = append(rules, r)
	}
	return NewSet(rules), nil
}

var knownMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true,
	"DELETE": true, "OPTIONS": true, "CONNECT": true, "TRACE": true,
}

func decodeRule(n *yaml.Node) (*Rule, error) {
	var fr fileRule
	if err := yamlstrict.DecodeNode(n, &fr); err != nil {
		return nil, err
	}
	r := &Rule{Name: fr.Name, Source: fr.Source, Destination: fr.Destination, Line: n.Line}
	switch {
	case fr.Name == "":
		return nil, errors.New("rule has no \"name\"")
	case fr.Source == "":
		return nil, fmt.Errorf("rule %q has no \"source\" (a principal, or \"*\")", fr.Name)
	case fr.Destination == "":
		return nil, fmt.Errorf("rule %q has no \"destination\" (a workload, or \"*\")", fr.Name)
	}
	if len(fr.Methods) > 0 {
		r.Methods = map[string]bool{}
	}
	for _, m := range fr.Methods {
		up := strings.ToUpper(m)
		if !knownMethods[up] {
			return nil, fmt.Errorf("rule %q: unknown method %q", fr.Name, m)
		}
		r.Methods[up] = true
	}
	for _, p := range fr.Paths {
		if err := validatePath(p); err != nil {
			return nil, fmt.Errorf("rule %q: path %q: %v", fr.Name, p, err)
		}
		r.Paths = append(r.Paths, ParsePathMatch(p))
	}
	return r, nil
}

func validatePath(p string) error {
	switch {
	case p == "":
		return errors.New("empty")
	case p == "*":
		return nil
	case strings.Count(p, "*") > 1:
		return errors.New("at most one '*', at the start or the end")
	case strings.Contains(strings.Trim(p, "*"), "*"):
		return errors.New("'*' may stand only at the start or the end")
	case !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "*"):
		return errors.New("must start with '/' or '*'")
	}
	return nil
}
