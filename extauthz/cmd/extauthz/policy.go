package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshward/meshward/api/check"
	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/extauthz/server"
)

func policyCmd() *cobra.Command {
	c := &cobra.Command{Use: "policy", Short: "check, test and explain policies"}
	c.AddCommand(lint(), testCmd(), explain())
	return c
}

func lint() *cobra.Command {
	return &cobra.Command{
		Use:   "lint FILE_OR_DIR...",
		Short: "check policy files; prints file:line: reason for each error",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, paths []string) error {
			bad := 0
			for _, p := range paths {
				if _, err := policy.Load(p); err != nil {
					fmt.Fprintln(c.ErrOrStderr(), err)
					bad++
				}
			}
			if bad > 0 {
				return fmt.Errorf("%d of %d paths invalid", bad, len(paths))
			}
			fmt.Fprintf(c.OutOrStdout(), "%d paths valid\n", len(paths))
			return nil
		},
	}
}

func explain() *cobra.Command {
	var paths []string
	var reqFile string
	c := &cobra.Command{
		Use:   "explain --policy FILE_OR_DIR... --request FILE",
		Short: "say which rule decides a request, and why every other rule does not",
		Long: "The request is JSON in the filter's check format (api/check), read from FILE or, with -, from stdin:\n" +
			`  {"source_principal":"spiffe://cluster.local/ns/shop/sa/frontend","destination":"spiffe://cluster.local/ns/shop/sa/orders",` + "\n" +
			`   "destination_labels":{"app":"orders"},"method":"GET","path":"/orders/1"}`,
		RunE: func(c *cobra.Command, _ []string) error {
			set, err := policy.Load(paths...)
			if err != nil {
				return err
			}
			req, err := readRequest(c.InOrStdin(), reqFile)
			if err != nil {
				return err
			}
			printExplanation(c.OutOrStdout(), req, set.Explain(req))
			return nil
		},
	}
	c.Flags().StringArrayVar(&paths, "policy", nil, "policy file or directory (repeatable)")
	c.Flags().StringVar(&reqFile, "request", "-", "the request, JSON (- for stdin)")
	_ = c.MarkFlagRequired("policy")
	return c
}

func readRequest(stdin io.Reader, file string) (*policy.Request, error) {
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(io.LimitReader(stdin, check.MaxRequestBytes+1))
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, err
	}
	r, err := check.DecodeRequest(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return server.PolicyRequest(&r), nil
}

func printExplanation(w io.Writer, r *policy.Request, e policy.Explanation) {
	fmt.Fprintf(w, "request:  %s -> %s (namespace %s, labels %s) %s %s\n",
		orNone(r.SourcePrincipal), r.Destination, orNone(e.Namespace), labels(r.DestinationLabels), r.Method, r.Path)
	verdict := "DENY"
	if e.Result.Allow {
		verdict = "ALLOW"
	}
	by := ""
	if e.Result.Rule != nil {
		by = " by " + e.Result.Rule.Name() + " (" + e.Result.Rule.Policy.Source + ")"
	}
	fmt.Fprintf(w, "decision: %s, reason %s%s\n", verdict, e.Result.Reason, by)
	if len(e.Selected) == 0 {
		fmt.Fprintln(w, "no policy selects the destination")
	}
	for _, p := range e.Selected {
		dry := ""
		if p.Policy.DryRun {
			dry = " (dry-run)"
		}
		fmt.Fprintf(w, "%-5s %s/%s%s, %s\n", p.Policy.Action, p.Policy.Namespace, p.Policy.Name, dry, p.Policy.Source)
		if len(p.Rules) == 0 {
			fmt.Fprintln(w, "      no rules: matches nothing")
		}
		for _, rt := range p.Rules {
			if rt.Matched {
				fmt.Fprintf(w, "      rule[%d] matches\n", rt.Rule.Index)
			} else {
				fmt.Fprintf(w, "      rule[%d] does not match: %s\n", rt.Rule.Index, rt.Why)
			}
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func labels(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + m[k]
	}
	return "{" + strings.Join(keys, ",") + "}"
}
