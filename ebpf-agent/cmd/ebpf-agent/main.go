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
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"google.golang.org/grpc/credentials"
	"k8s.io/client-go/kubernetes"

	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/internal/kubeconfig"
	"github.com/meshward/meshward/internal/logging"

	"github.com/meshward/meshward/ebpf-agent/agent"
	"github.com/meshward/meshward/ebpf-agent/cgroups"
	"github.com/meshward/meshward/ebpf-agent/collector"
	"github.com/meshward/meshward/ebpf-agent/isolate"
	"github.com/meshward/meshward/ebpf-agent/pods"
	"github.com/meshward/meshward/ebpf-agent/profile"
	"github.com/meshward/meshward/ebpf-agent/store"
	"github.com/meshward/meshward/ebpf-agent/verdict"
)

func main() {
	root := &cobra.Command{Use: "ebpf-agent", Short: "meshward's eBPF node agent", SilenceUsage: true}
	root.AddCommand(run(), recordCmd(), evalCmd(), splitCmd())
	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
}

// runFlags are ebpf-agent run's settings.
type runFlags struct {
	specs, allow                               []string
	containers, storePath                      string
	isolate                                    bool
	authz, tokenFile, metricsAddr, node, level string
	tlsCert, tlsKey, tlsCA                     string
	kubeconfig, proc                           string
	inCluster                                  bool
	opts                                       agent.Options
}

func run() *cobra.Command {
	f := runFlags{opts: agent.Options{Profile: profile.DefaultConfig(), AlarmK: 2, AlarmN: 64, SaveEvery: 30 * time.Second}}
	c := &cobra.Command{
		Use:   "run (--workload SPIFFE_ID=CGROUP_DIR... | --containers FILE | --in-cluster | --kubeconfig F) --authorizer ADDR --verdict-token-file F",
		Short: "watch containers, learn their profiles and send verdicts",
		RunE: func(*cobra.Command, []string) error {
			log, err := logging.New(os.Stderr, "ebpf-agent", f.level)
			if err != nil {
				return err
			}
			ws, err := f.workloads()
			if err != nil {
				return err
			}
			token, err := os.ReadFile(f.tokenFile)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return serve(ctx, ws, f, string(bytes.TrimSpace(token)), log)
		},
	}
	fl := c.Flags()
	fl.StringArrayVar(&f.specs, "workload", nil, "a workload to watch, SPIFFE_ID=CGROUP_DIR (repeatable)")
	fl.StringVar(&f.containers, "containers", "", "YAML file of the containers to watch (workload, cgroup, container, image)")
	fl.BoolVar(&f.inCluster, "in-cluster", false, "watch the containers of this node's pods (--node), from the cluster the agent runs in")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "watch the containers of this node's pods (--node), from this cluster")
	fl.StringVar(&f.proc, "proc", "/proc", "the host's /proc, where the containers' cgroups are found")
	fl.StringVar(&f.storePath, "profile-store", "/var/lib/meshward/profiles.db", "bbolt file the profiles persist in (empty: none)")
	fl.IntVar(&f.opts.Profile.Window, "window", f.opts.Profile.Window, "system calls per window, per process")
	fl.IntVar(&f.opts.Profile.N, "ngram", f.opts.Profile.N, "n-gram length (2 to 8)")
	fl.Float64Var(&f.opts.Profile.Threshold, "threshold", f.opts.Profile.Threshold, "a window scoring above this is anomalous")
	fl.IntVar(&f.opts.Profile.Learn, "learn-windows", f.opts.Profile.Learn, "windows a new container learns before it detects")
	fl.IntVar(&f.opts.AlarmK, "alarm-windows", f.opts.AlarmK, "anomalous windows that make a verdict ...")
	fl.IntVar(&f.opts.AlarmN, "alarm-span", f.opts.AlarmN, "... among a container's last this many windows")
	fl.DurationVar(&f.opts.SaveEvery, "save-every", f.opts.SaveEvery, "how often changed profiles are saved")
	fl.StringVar(&f.authz, "authorizer", "127.0.0.1:9191", "the authorizer's gRPC address (verdict API)")
	fl.StringVar(&f.tokenFile, "verdict-token-file", "", "file holding the verdict API's bearer token")
	fl.StringVar(&f.tlsCA, "authorizer-ca", "", "CA (PEM) of the authorizer's certificate: verdicts travel over TLS")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "certificate (PEM) the agent presents to the authorizer (mutual TLS)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "private key (PEM) of --tls-cert")
	fl.StringVar(&f.metricsAddr, "metrics-addr", "127.0.0.1:9464", "address of /metrics")
	fl.StringVar(&f.node, "node", hostname(), "this node's name, sent with verdicts")
	fl.StringVar(&f.level, "log-level", "info", "debug, info, warn or error")
	fl.BoolVar(&f.isolate, "isolate", false, "also isolate a flagged container in the kernel (cgroup/connect4, connect6)")
	fl.StringArrayVar(&f.allow, "isolate-allow", nil, "ip:port an isolated container may still connect to (port 0: any); repeatable")
	_ = c.MarkFlagRequired("verdict-token-file")
	return c
}

func (f *runFlags) workloads() ([]agent.Workload, error) {
	var ws []agent.Workload
	if f.containers != "" {
		var err error
		if ws, err = agent.LoadContainers(f.containers); err != nil {
			return nil, err
		}
	}
	for _, s := range f.specs {
		w, err := agent.ParseWorkload(s)
		if err != nil {
			return nil, err
		}
		ws = append(ws, w)
	}
	if len(ws) == 0 && f.kubeconfig == "" && !f.inCluster {
		return nil, errors.New("nothing to watch: give --workload, --containers, --in-cluster or --kubeconfig")
	}
	return ws, nil
}

// collectorOptions gathers windows in the kernel when they fit there.
func collectorOptions(p profile.Config) collector.Options {
	if p.Window <= collector.MaxWindow {
		return collector.Options{Window: p.Window}
	}
	return collector.Options{}
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

func serve(ctx context.Context, ws []agent.Workload, f runFlags, token string, log zerolog.Logger) error {
	col, err := collector.Open(collectorOptions(f.opts.Profile))
	if err != nil {
		return err
	}
	defer col.Close()
	var creds credentials.TransportCredentials
	if f.tlsCA != "" {
		cfg, err := identity.LoadClientTLS(f.tlsCert, f.tlsKey, f.tlsCA)
		if err != nil {
			return err
		}
		creds = credentials.NewTLS(cfg)
	} else if f.tlsCert != "" || f.tlsKey != "" {
		return errors.New("--tls-cert and --tls-key need --authorizer-ca")
	}
	vc, err := verdict.Dial(f.authz, token, f.node, creds)
	if err != nil {
		return err
	}
	defer vc.Close()
	if f.storePath != "" {
		if err := os.MkdirAll(filepath.Dir(f.storePath), 0o700); err != nil {
			return err
		}
		st, err := store.Open(f.storePath)
		if err != nil {
			return err
		}
		defer st.Close()
		f.opts.Store = st
	}
	if f.isolate {
		iso, err := openIsolator(f.allow)
		if err != nil {
			return err
		}
		defer iso.Close()
		f.opts.Isolator = iso
	}
	reg := prometheus.NewRegistry()
	a, err := agent.New(col, ws, vc, reg, log, f.opts)
	if err != nil {
		return err
	}
	defer a.Close()
	srv := &http.Server{Addr: f.metricsAddr, Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("metrics server")
		}
	}()
	defer srv.Close()
	if err := f.watchPods(ctx, a, log); err != nil {
		return err
	}
	return a.Run(ctx)
}

// watchPods follows this node's pods when the agent runs in Kubernetes.
func (f *runFlags) watchPods(ctx context.Context, a *agent.Agent, log zerolog.Logger) error {
	cfg, err := kubeconfig.Load(f.kubeconfig, f.inCluster)
	if err != nil || cfg == nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	root, err := cgroups.Mount()
	if err != nil {
		return err
	}
	w := &pods.Watcher{Client: cs, Node: f.node, Find: (&pods.CgroupFinder{Proc: f.proc, Root: root}).Find, Target: a,
		Log: log.With().Str("source", "pods").Logger()}
	go func() {
		if err := w.Run(ctx); err != nil {
			log.Error().Err(err).Msg("following this node's pods")
		}
	}()
	return nil
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
