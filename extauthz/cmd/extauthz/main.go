// Command extauthz is meshward's authorizer: Envoy ext_authz over gRPC, the
// Wasm filter's HTTP check, and the verdict API, from one policy file.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/internal/kubeconfig"
	"github.com/meshward/meshward/internal/logging"
	"github.com/meshward/meshward/internal/pathnorm"

	"github.com/meshward/meshward/extauthz/eaas/roles"
	"github.com/meshward/meshward/extauthz/lateral"
	"github.com/meshward/meshward/extauthz/server"
	"github.com/meshward/meshward/extauthz/workloads"
)

func main() {
	if err := root().Execute(); err != nil {
		os.Exit(1)
	}
}

func root() *cobra.Command {
	c := &cobra.Command{Use: "extauthz", Short: "meshward's zero-trust authorizer", SilenceUsage: true}
	c.AddCommand(serve(), policyCmd(), eaasCmd(), statusCmd())
	return c
}

func serve() *cobra.Command {
	var grpcAddr, httpAddr, tokenFile, level string
	var policyDirs []string
	var reload, cacheTTL time.Duration
	var maxInFlight int
	var learnMode, inCluster, insecureChecks bool
	var perCaller int
	var pathMode, workloadsFile string
	var kubeconfigPath, tlsCert, tlsKey, clientCA string
	dlog := server.DefaultDecisionLog
	lat := lateral.DefaultConfig
	learnFor := 10 * time.Minute
	var ef eaasFlags
	var xf xdsEventFlags
	var wf writebackFlags
	var eaasOn bool
	var sf sharedFlags
	c := &cobra.Command{
		Use:   "serve",
		Short: "serve ext_authz (gRPC), the filter's HTTP check and the verdict API",
		RunE: func(*cobra.Command, []string) error {
			log, err := logging.New(os.Stderr, "extauthz", level)
			if err != nil {
				return err
			}
			token, err := readToken(tokenFile)
			if err != nil {
				return err
			}
			norm, err := pathnorm.ParseMode(pathMode)
			if err != nil {
				return err
			}
			reg, err := loadWorkloads(workloadsFile)
			if err != nil {
				return err
			}
			kcfg, err := kubeconfig.Load(kubeconfigPath, inCluster)
			if err != nil {
				return err
			}
			var serverTLS *tls.Config
			if tlsCert != "" || tlsKey != "" || clientCA != "" {
				if serverTLS, err = identity.LoadServerTLS(tlsCert, tlsKey, clientCA); err != nil {
					return err
				}
			}
			xev, err := xf.config(tlsCert, tlsKey, clientCA)
			if err != nil {
				return err
			}
			wctx, stopWriteback := context.WithCancel(context.Background())
			defer stopWriteback() // hands the Lease over at once
			qset, err := wf.start(wctx, kcfg, log)
			if err != nil {
				return err
			}
			metricsReg := prometheus.NewRegistry()
			var er *roles.Running
			if eaasOn {
				if er, err = startEaaS(&ef, serverTLS, tlsCert, tlsKey, clientCA, token, metricsReg, log); err != nil {
					return err
				}
				defer er.Stop()
			}
			shared, closeShared, err := sf.store(log)
			if err != nil {
				return err
			}
			defer closeShared()
			r, err := server.Start(server.Config{Shared: shared, Registry: metricsReg, Mount: mountEaaS(er), GRPCTLS: serverTLS, HTTPTLS: serverTLS, InsecurePlaintextChecks: insecureChecks, MaxInFlightPerCaller: perCaller, PathNormalization: norm, Workloads: reg, PolicyPaths: policyDirs, Kube: kcfg, Quarantine: qset, ReloadInterval: reload, CacheTTL: cacheTTL, MaxInFlight: maxInFlight, Lateral: lat, LateralLearnFor: learnFor, Learn: learnMode, DecisionLog: &dlog, GRPCAddr: grpcAddr, HTTPAddr: httpAddr, VerdictToken: token, XDSEvents: xev, Log: log})
			if err != nil {
				return err
			}
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
			select {
			case s := <-sig:
				log.Info().Str("signal", s.String()).Msg("stopping")
				r.Stop()
				return nil
			case err := <-waitErr(r):
				return err
			}
		},
	}
	c.Flags().StringArrayVar(&policyDirs, "policy", nil, "policy file or directory of YAML files (AuthorizationPolicy, MeshwardPolicy); repeatable")
	sf.add(c.Flags())
	c.Flags().DurationVar(&cacheTTL, "filter-cache-ttl", server.DefaultCacheTTL, "how long filters may reuse a cacheable answer (negative: never); any policy or quarantine change drops it within a second")
	c.Flags().IntVar(&maxInFlight, "max-in-flight", server.DefaultMaxInFlight, "checks served at once; more are shed unread (RESOURCE_EXHAUSTED, HTTP 503) and fail closed")
	c.Flags().Float64Var(&dlog.AllowSample, "decision-log-allow-sample", dlog.AllowSample, "share of allowed decisions written to the decision log")
	c.Flags().Float64Var(&dlog.DeniesPerSecond, "decision-log-denies-per-second", dlog.DeniesPerSecond, "cap on denials written to the decision log")
	c.Flags().StringVar(&kubeconfigPath, "kubeconfig", "", "read AuthorizationPolicies and MeshwardPolicies from this cluster instead of --policy")
	c.Flags().BoolVar(&inCluster, "in-cluster", false, "read policies from the cluster the authorizer runs in")
	c.Flags().BoolVar(&learnMode, "learn", false, "record allowed traffic; GET /v1/learned writes least-privilege AuthorizationPolicies for it")
	c.Flags().DurationVar(&learnFor, "lateral-learn-for", learnFor, "how long the lateral-movement detector learns normal edges")
	c.Flags().DurationVar(&lat.Window, "lateral-window", lat.Window, "window of the fan-out counts")
	c.Flags().IntVar(&lat.MaxDestinations, "lateral-max-destinations", lat.MaxDestinations, "distinct destinations per source per window before an alert")
	c.Flags().IntVar(&lat.MaxPorts, "lateral-max-ports", lat.MaxPorts, "distinct destination ports per source per window before an alert")
	c.Flags().IntVar(&lat.MaxNewEdges, "lateral-max-new-edges", lat.MaxNewEdges, "edges unseen while learning, per source per window, before an alert")
	c.Flags().DurationVar(&reload, "reload-interval", time.Second, "how often to poll policy files, besides watching them, for changes inotify missed")
	c.Flags().StringVar(&grpcAddr, "grpc-addr", "127.0.0.1:9191", "address of ext_authz and the verdict API")
	c.Flags().StringVar(&tlsCert, "tls-cert", "", "certificate (PEM) of both ports (mesh CA); with --tls-key and --client-ca they speak mutual TLS")
	c.Flags().StringVar(&tlsKey, "tls-key", "", "private key (PEM) of --tls-cert")
	c.Flags().StringVar(&clientCA, "client-ca", "", "the mesh CA (PEM): checks and verdicts need a client certificate from it")
	c.Flags().BoolVar(&insecureChecks, "insecure-plaintext-checks", false, "serve checks without client certificates, trusting what any caller claims (local demos only)")
	c.Flags().StringVar(&pathMode, "path-normalization", "", "the mesh's path normalization (Istio's names: NONE, BASE, MERGE_SLASHES, DECODE_AND_MERGE_SLASHES; default MERGE_SLASHES), applied to every check")
	c.Flags().StringVar(&workloadsFile, "workloads", "", "YAML file binding each workload identity to the labels and services its checks may claim")
	c.Flags().IntVar(&perCaller, "max-in-flight-per-caller", server.DefaultMaxInFlightPerCaller, "checks one caller (workload identity) may have in flight")
	// The names of the gRPC-only flags of earlier releases.
	c.Flags().StringVar(&tlsCert, "grpc-tls-cert", "", "deprecated name of --tls-cert")
	c.Flags().StringVar(&tlsKey, "grpc-tls-key", "", "deprecated name of --tls-key")
	c.Flags().StringVar(&clientCA, "grpc-client-ca", "", "deprecated name of --client-ca")
	for _, f := range []string{"grpc-tls-cert", "grpc-tls-key", "grpc-client-ca"} {
		_ = c.Flags().MarkDeprecated(f, "use --"+strings.TrimPrefix(f, "grpc-"))
	}
	c.Flags().BoolVar(&eaasOn, "eaas", false, "also serve Encryption as a Service (all four roles by default; see --eaas-*)")
	ef.add(c.Flags(), "eaas-")
	xf.add(c.Flags())
	wf.add(c.Flags())
	c.Flags().StringVar(&httpAddr, "http-addr", "127.0.0.1:8181", "address of the HTTP check, /metrics and /healthz")
	c.Flags().StringVar(&tokenFile, "verdict-token-file", "", "file holding the verdict API's bearer token")
	c.Flags().StringVar(&level, "log-level", "info", "debug, info, warn or error")
	_ = c.MarkFlagRequired("verdict-token-file")
	return c
}

func waitErr(r *server.Running) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- r.Wait() }()
	return ch
}

func readToken(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSpace(b)
	if len(b) < 16 {
		return nil, fmt.Errorf("%s: verdict token is %d bytes, want at least 16", path, len(b))
	}
	return b, nil
}

func loadWorkloads(path string) (*workloads.Registry, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return workloads.Parse(path, b)
}
