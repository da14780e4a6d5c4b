package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/xds/server"
)

// maxStatus bounds the answer read.
const maxStatus = 16 << 20

func status() *cobra.Command {
	var url, token, ca, cert, key string
	c := &cobra.Command{
		Use:          "status --admin URL (--token-file FILE | --cert FILE --key FILE --ca FILE)",
		Short:        "show where every service is, what it serves while it moves, its last move and who is connected",
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := fetchStatus(url, token, ca, cert, key)
			if err != nil {
				return err
			}
			printLeader(cmd.OutOrStdout(), st.Leader)
			printStatus(cmd.OutOrStdout(), st.Status)
			return nil
		},
	}
	fs := c.Flags()
	fs.StringVar(&url, "admin", "http://127.0.0.1:18001", "the xDS server's admin URL")
	fs.StringVar(&token, "token-file", "", "file holding the admin token")
	fs.StringVar(&ca, "ca", "", "CA (PEM) of the admin port's certificate (https)")
	fs.StringVar(&cert, "cert", "", "client certificate (PEM) for mutual TLS")
	fs.StringVar(&key, "key", "", "client key (PEM)")
	return c
}

// statusWire is the server's Status and what a newer server may add: the
// leader of replicas that elect one (printed only when the server says).
type statusWire struct {
	server.Status
	Leader json.RawMessage `json:"leader,omitempty"`
}

func fetchStatus(url, tokenFile, ca, cert, key string) (statusWire, error) {
	var st statusWire
	client := &http.Client{Timeout: 10 * time.Second}
	if ca != "" || cert != "" {
		tlsCfg, err := identity.LoadClientTLS(cert, key, ca)
		if err != nil {
			return st, err
		}
		client.Transport = &http.Transport{TLSClientConfig: tlsCfg}
	}
	req, err := http.NewRequest(http.MethodGet, strings.TrimSuffix(url, "/")+"/status", nil)
	if err != nil {
		return st, err
	}
	if tokenFile != "" {
		tok, err := readToken(tokenFile)
		if err != nil {
			return st, err
		}
		req.Header.Set("Authorization", "Bearer "+string(tok))
	}
	resp, err := client.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxStatus))
	if err != nil {
		return st, err
	}
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("status: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("status: the answer is not a status: %w", err)
	}
	return st, nil
}

func printStatus(w io.Writer, st server.Status) {
	fmt.Fprintf(w, "version %d (placement %d); %d streams from %d nodes\n", st.Version, st.Placement, st.Streams, st.Nodes)
	printControlPlane(w, st.ControlPlane)
	printNACK(w, st.LastNACK)
	t := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(t, "SERVICE\tENDPOINTS\tALSO SERVING\tNODES TOLD\tLAST MOVE\tNEXT DUE")
	names := make([]string, 0, len(st.Services))
	for n := range st.Services {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		s := st.Services[n]
		also := "-"
		if len(s.Opening) > 0 {
			also = "opening " + strings.Join(s.Opening, ",")
		} else if len(s.Draining) > 0 {
			also = "draining " + strings.Join(s.Draining, ",")
		}
		last, next := "-", "-"
		if m := s.LastMove; m != nil {
			last = fmt.Sprintf("%s by %s, converged in %.1f ms, %d behind", m.At.Format(time.RFC3339), m.Trigger, m.ConvergedMS, m.Behind)
		}
		if s.NextDue != nil {
			next = s.NextDue.Format(time.RFC3339)
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%d\t%s\t%s\n", n, strings.Join(s.Endpoints, ","), also, s.Nodes, last, next)
	}
	t.Flush()
}
