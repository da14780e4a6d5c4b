package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	eaasv1 "github.com/meshward/meshward/api/eaas/v1"
	"github.com/meshward/meshward/extauthz/server"
	"github.com/meshward/meshward/internal/identity"
)

// maxStatusAnswer bounds one replica's answer.
const maxStatusAnswer = 1 << 20

// maxReplicas bounds the addresses one name may resolve to.
const maxReplicas = 64

// replicaStatus is one replica's answer, or why there is none.
type replicaStatus struct {
	Addr string
	St   server.Status
	Err  error
}

type statusFlags struct {
	addrs         []string
	ca, cert, key string
	tokenFile     string
	eaasAddr      string
	timeout       time.Duration
	resolve       func(ctx context.Context, host string) ([]string, error)
	eaasStatus    func(*statusFlags) (*eaasv1.StatusResponse, error)
}

func statusCmd() *cobra.Command {
	f := statusFlags{resolve: net.DefaultResolver.LookupHost, eaasStatus: coordinatorStatus}
	c := &cobra.Command{
		Use:   "status --addr HOST:PORT... --ca ca.pem --token-file token [--eaas-addr HOST:PORT]",
		Short: "what an operator asks first: replicas, epoch, quarantines, last policy error, EaaS",
		Long: "Asks every replica's check port (GET /v1/status with the operator's token). A host name that resolves\n" +
			"to several addresses (a headless Service) is that many replicas.",
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reps, err := f.fetchAll()
			if err != nil {
				return err
			}
			var es *eaasv1.StatusResponse
			var eerr error
			if f.eaasAddr != "" {
				es, eerr = f.eaasStatus(&f)
			}
			return printAuthzStatus(cmd.OutOrStdout(), reps, es, eerr)
		},
	}
	fs := c.Flags()
	fs.StringArrayVar(&f.addrs, "addr", []string{"127.0.0.1:8181"}, "a replica's check port (--http-addr); repeatable")
	fs.StringVar(&f.ca, "ca", "", "the mesh CA (PEM) that signed the authorizer's certificate; without it, plain HTTP to loopback only")
	fs.StringVar(&f.cert, "tls-cert", "", "a mesh client certificate to present (optional)")
	fs.StringVar(&f.key, "tls-key", "", "its key")
	fs.StringVar(&f.tokenFile, "token-file", "", "the operator's bearer token (the authorizer's --verdict-token-file)")
	fs.StringVar(&f.eaasAddr, "eaas-addr", "", "also ask this EaaS coordinator (gRPC, --eaas-addr of serve) for subscribers and replicas")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "how long to wait for all answers")
	_ = c.MarkFlagRequired("token-file")
	return c
}

// fetchAll asks every replica; one that does not answer is reported, not
// fatal: a replica down is what the operator wants to see.
func (f *statusFlags) fetchAll() ([]replicaStatus, error) {
	tok, err := readToken(f.tokenFile)
	if err != nil {
		return nil, err
	}
	client, scheme, err := f.client()
	if err != nil {
		return nil, err
	}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	var out []replicaStatus
	for _, a := range f.addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			return nil, fmt.Errorf("--addr %q: %w", a, err)
		}
		ips, err := f.replicas(ctx, host)
		if err != nil {
			out = append(out, replicaStatus{Addr: a, Err: err})
			continue
		}
		if scheme == "http" && !allLoopback(ips) {
			return nil, fmt.Errorf("--addr %s: without --ca the token would cross the network in plain; give the mesh CA", a)
		}
		for _, ip := range ips {
			st, err := fetchOne(ctx, client, scheme, host, net.JoinHostPort(ip, port), tok)
			out = append(out, replicaStatus{Addr: net.JoinHostPort(ip, port), St: st, Err: err})
		}
	}
	return out, nil
}

func (f *statusFlags) replicas(ctx context.Context, host string) ([]string, error) {
	if _, err := netip.ParseAddr(host); err == nil {
		return []string{host}, nil
	}
	ips, err := f.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	if len(ips) > maxReplicas {
		return nil, fmt.Errorf("%s resolves to %d addresses, at most %d", host, len(ips), maxReplicas)
	}
	return ips, nil
}

func allLoopback(ips []string) bool {
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip)
		if err != nil || !a.IsLoopback() {
			return false
		}
	}
	return true
}

func (f *statusFlags) client() (*http.Client, string, error) {
	if f.ca == "" {
		return &http.Client{}, "http", nil
	}
	cfg, err := identity.LoadClientTLS(f.cert, f.key, f.ca)
	if err != nil {
		return nil, "", err
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}, "https", nil
}

// fetchOne asks the replica at addr, verifying its certificate for host
// (the name the operator gave: each address of a Service is the Service).
func fetchOne(ctx context.Context, c *http.Client, scheme, host, addr string, tok []byte) (server.Status, error) {
	var st server.Status
	if t, ok := c.Transport.(*http.Transport); ok && t.TLSClientConfig != nil {
		cfg := t.TLSClientConfig.Clone()
		cfg.ServerName = host
		c = &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		defer c.CloseIdleConnections()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+addr+server.StatusPath, nil)
	if err != nil {
		return st, err
	}
	req.Header.Set("Authorization", "Bearer "+string(tok))
	resp, err := c.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxStatusAnswer))
	if err != nil {
		return st, err
	}
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("HTTP %d (%s)", resp.StatusCode, map[bool]string{true: "the token was refused", false: "not a status"}[resp.StatusCode == http.StatusUnauthorized])
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("the answer is not a status: %w", err)
	}
	return st, nil
}

func coordinatorStatus(f *statusFlags) (*eaasv1.StatusResponse, error) {
	cn := conn{addr: f.eaasAddr, ca: f.ca, tokenFile: f.tokenFile, cert: f.cert, key: f.key, timeout: f.timeout}
	var resp *eaasv1.StatusResponse
	err := cn.call(func(ctx context.Context, cc *grpc.ClientConn) error {
		var err error
		resp, err = eaasv1.NewCoordinatorClient(cc).Status(ctx, &eaasv1.StatusRequest{})
		return err
	})
	return resp, err
}
