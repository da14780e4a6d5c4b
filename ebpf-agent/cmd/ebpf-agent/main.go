// Command ebpf-agent is meshward's node agent: it collects the system calls of
// the workloads on its node with eBPF and reports compromised ones to the
// authorizer.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/meshward/meshward/internal/logging"

	"github.com/meshward/meshward/ebpf-agent/agent"
	"github.com/meshward/meshward/ebpf-agent/collector"
	"github.com/meshward/meshward/ebpf-agent/isolate"
	"github.com/meshward/meshward/ebpf-agent/verdict"
)

func main() {
	root := &cobra.Command{Use: "ebpf-agent", Short: "meshward's eBPF node agent", SilenceUsage: true}
	root.AddCommand(run(), recordCmd(), evalCmd())
	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
}

func run() *cobra.Command {
	var specs, allow []string
	var isolateOn bool
	var authz, tokenFile, metricsAddr, node, level string
	c := &cobra.Command{
		Use:   "run --workload SPIFFE_ID=CGROUP_DIR... --authorizer ADDR --verdict-token-file F",
		Short: "watch workloads and send verdicts",
		RunE: func(*cobra.Command, []string) error {
			log, err := logging.New(os.Stderr, "ebpf-agent", level)
			if err != nil {
				return err
			}
			var ws []agent.Workload
			for _, s := range specs {
				w, err := agent.ParseWorkload(s)
				if err != nil {
					return err
				}
				ws = append(ws, w)
			}
			token, err := os.ReadFile(tokenFile)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return serve(ctx, ws, authz, string(bytes.TrimSpace(token)), node, metricsAddr, isolateOn, allow, log)
		},
	}
	c.Flags().StringArrayVar(&specs, "workload", nil, "a workload to watch, SPIFFE_ID=CGROUP_DIR (repeatable)")
	c.Flags().StringVar(&authz, "authorizer", "127.0.0.1:9191", "the authorizer's gRPC address (verdict API)")
	c.Flags().StringVar(&tokenFile, "verdict-token-file", "", "file holding the verdict API's bearer token")
	c.Flags().StringVar(&metricsAddr, "metrics-addr", "127.0.0.1:9464", "address of /metrics")
	c.Flags().StringVar(&node, "node", hostname(), "this node's name, sent with verdicts")
	c.Flags().StringVar(&level, "log-level", "info", "debug, info, warn or error")
	c.Flags().BoolVar(&isolateOn, "isolate", false, "also isolate a flagged container in the kernel (cgroup/connect4, connect6)")
	c.Flags().StringArrayVar(&allow, "isolate-allow", nil, "ip:port an isolated container may still connect to (port 0: any); repeatable")
	_ = c.MarkFlagRequired("verdict-token-file")
	return c
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

func serve(ctx context.Context, ws []agent.Workload, authz, token, node, metricsAddr string, isolateOn bool, allow []string, log zerolog.Logger) error {
	col, err := collector.Open()
	if err != nil {
		return err
	}
	defer col.Close()
	vc, err := verdict.Dial(authz, token, node, nil)
	if err != nil {
		return err
	}
	defer vc.Close()
	reg := prometheus.NewRegistry()
	a, err := agent.New(col, ws, vc, reg, log)
	if err != nil {
		return err
	}
	if isolateOn {
		iso, err := openIsolator(allow)
		if err != nil {
			return err
		}
		defer iso.Close()
		a.Isolator = iso
	}
	srv := &http.Server{Addr: metricsAddr, Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("metrics server")
		}
	}()
	defer srv.Close()
	return a.Run(ctx)
}

func openIsolator(allow []string) (*isolate.Isolator, error) {
	iso, err := isolate.Open()
	if err != nil {
		return nil, err
	}
	for _, a := range allow {
		ap, err := netip.ParseAddrPort(a)
		if err != nil {
			iso.Close()
			return nil, fmt.Errorf("--isolate-allow %q: want ip:port", a)
		}
		if err := iso.Allow(ap.Addr(), ap.Port()); err != nil {
			iso.Close()
			return nil, err
		}
	}
	return iso, nil
}
