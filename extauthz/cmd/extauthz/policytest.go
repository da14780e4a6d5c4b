package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/meshward/meshward/api/check"
	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/extauthz/server"
	"github.com/meshward/meshward/internal/yamlstrict"
)

// testFile is a table of requests and the decisions they must get, like
// `opa test`:
//
//	policies: [../policies]        # files or directories, relative to this file
//	cases:
//	- name: frontend reads orders
//	  request: {source_principal: ..., destination: ..., method: GET, path: /orders/1}
//	                                # and request_principal: <iss>/<sub> of a JWT
//	  allow: true
//	  reason: allowed               # optional
//	  rule: shop/orders-read[0]     # optional
type testFile struct {
	Policies []string    `yaml:"policies"`
	Cases    []yaml.Node `yaml:"cases"`
}

type testCase struct {
	Name    string         `yaml:"name"`
	Request map[string]any `yaml:"request"`
	Allow   *bool          `yaml:"allow"`
	Reason  string         `yaml:"reason"`
	Rule    string         `yaml:"rule"`
}

func testCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "test FILE...",
		Short: "run tables of requests against policies and check each decision",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, files []string) error {
			var passed, failed int
			for _, f := range files {
				p, fl, err := runTestFile(c.OutOrStdout(), f)
				if err != nil {
					return err
				}
				passed, failed = passed+p, failed+fl
			}
			fmt.Fprintf(c.OutOrStdout(), "policy test: %d passed, %d failed\n", passed, failed)
			if failed > 0 {
				return fmt.Errorf("%d cases failed", failed)
			}
			return nil
		},
	}
}

func runTestFile(out io.Writer, file string) (passed, failed int, err error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, 0, err
	}
	var tf testFile
	if err := yamlstrict.Decode(data, &tf); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", file, err)
	}
	if len(tf.Policies) == 0 {
		return 0, 0, fmt.Errorf("%s: no \"policies\" to test", file)
	}
	paths := make([]string, len(tf.Policies))
	for i, p := range tf.Policies {
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(file), p)
		}
		paths[i] = p
	}
	set, err := policy.Load(paths...)
	if err != nil {
		return 0, 0, err
	}
	for i := range tf.Cases {
		n := &tf.Cases[i]
		tc, req, err := decodeCase(n)
		if err != nil {
			return passed, failed, fmt.Errorf("%s:%d: %w", file, n.Line, err)
		}
		if why := judge(set.Evaluate(req), tc); why != "" {
			failed++
			fmt.Fprintf(out, "FAIL %s:%d %s: %s\n", file, n.Line, tc.Name, why)
			continue
		}
		passed++
		fmt.Fprintf(out, "PASS %s:%d %s\n", file, n.Line, tc.Name)
	}
	return passed, failed, nil
}

func decodeCase(n *yaml.Node) (testCase, *policy.Request, error) {
	var tc testCase
	if err := yamlstrict.DecodeNode(n, &tc); err != nil {
		return tc, nil, err
	}
	if tc.Name == "" || tc.Allow == nil {
		return tc, nil, errors.New("a case needs \"name\" and \"allow\"")
	}
	// The JWT principal ("<iss>/<sub>") comes from Envoy's metadata, not
	// from the filter's check, so a case gives it beside the check's fields.
	jwt, hasJWT := tc.Request["request_principal"]
	delete(tc.Request, "request_principal")
	js, err := json.Marshal(tc.Request)
	if err != nil {
		return tc, nil, err
	}
	r, err := check.DecodeRequest(bytes.TrimSpace(js))
	if err != nil {
		return tc, nil, fmt.Errorf("case %q: %w", tc.Name, err)
	}
	req := server.PolicyRequest(&r)
	if hasJWT {
		s, ok := jwt.(string)
		if !ok {
			return tc, nil, fmt.Errorf("case %q: request_principal is not a string", tc.Name)
		}
		req.RequestPrincipal = s
	}
	return tc, req, nil
}

func judge(got policy.Result, tc testCase) string {
	rule := ""
	if got.Rule != nil {
		rule = got.Rule.Name()
	}
	switch {
	case got.Allow != *tc.Allow:
		return fmt.Sprintf("allow=%v (reason %s, rule %q), want allow=%v", got.Allow, got.Reason, rule, *tc.Allow)
	case tc.Reason != "" && got.Reason != tc.Reason:
		return fmt.Sprintf("reason %s, want %s", got.Reason, tc.Reason)
	case tc.Rule != "" && rule != tc.Rule:
		return fmt.Sprintf("rule %q, want %q", rule, tc.Rule)
	}
	return ""
}
