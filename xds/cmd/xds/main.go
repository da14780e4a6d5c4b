// Command xds is meshward's moving-target-defense xDS server.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/internal/logging"

	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/reach"
	"github.com/meshward/meshward/xds/server"
)

func main() {
	if err := serve().Execute(); err != nil {
		os.Exit(1)
	}
}

// flags are the command line; files are named, never secrets.
type flags struct {
	catalog, addr, adminAddr, level  string
	sidecars                         string
	tlsCert, tlsKey, clientCA        string
	adminToken                       string
	adminCert, adminKey, adminClient string
	adminAllow, eventIDs             []string
	policies                         []string
	rotations                        []string
	every, grace, ackTimeout, hard   time.Duration
	maxStreams                       int
	reloadEvery                      time.Duration
	rps                              float64
	self                             selfFlags
	ha                               haFlags
}

func serve() *cobra.Command {
	var f flags
	c := &cobra.Command{
		Use:          "xds --catalog FILE (--admin-token-file FILE | --admin-client-ca FILE ...)",
		Short:        "serve ADS from a service catalog and rotate service endpoints",
		SilenceUsage: true,
		RunE:         func(*cobra.Command, []string) error { return run(f) },
	}
	fs := c.Flags()
	fs.StringVar(&f.catalog, "catalog", "", "service catalog (YAML)")
	fs.StringVar(&f.addr, "addr", "127.0.0.1:18000", "ADS address")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "certificate (PEM) of the ADS port; with --tls-key, ADS speaks TLS")
	fs.StringVar(&f.tlsKey, "tls-key", "", "private key (PEM) of --tls-cert")
	fs.StringVar(&f.clientCA, "client-ca", "", "CA (PEM) whose client certificates the ADS port requires (mutual TLS)")
	fs.StringVar(&f.adminAddr, "admin-addr", "127.0.0.1:18001", "admin address: POST /rotate?service=S[&port=P], GET /placement, /metrics")
	fs.StringVar(&f.adminToken, "admin-token-file", "", "file holding the admin API's bearer token (at least 16 bytes)")
	fs.StringVar(&f.adminCert, "admin-tls-cert", "", "certificate (PEM) of the admin port; with --admin-tls-key, it speaks HTTPS")
	fs.StringVar(&f.adminKey, "admin-tls-key", "", "private key (PEM) of --admin-tls-cert")
	fs.StringVar(&f.adminClient, "admin-client-ca", "", "CA (PEM) whose client certificates the admin port requires (mutual TLS)")
	fs.StringArrayVar(&f.adminAllow, "admin-allow-id", nil, "SPIFFE ID admitted to the admin API over mutual TLS (repeatable)")
	fs.StringArrayVar(&f.eventIDs, "admin-events-id", nil, "SPIFFE ID admitted over mutual TLS to POST /events only: the authorizer's (repeatable)")
	fs.DurationVar(&f.every, "rotate-every", 0, "move every service with a pool but no schedule of its own this often (0: only when told)")
	fs.DurationVar(&f.grace, "grace", 0, "how long old sockets stay served after every client moved (default 5s; a service's schedule may say)")
	fs.DurationVar(&f.ackTimeout, "ack-timeout", 0, "how long clients have to acknowledge a move before they are reported (default 5s)")
	fs.DurationVar(&f.hard, "hard-deadline", 0, "when old sockets close even for clients that never acknowledged (default 60s)")
	fs.IntVar(&f.maxStreams, "max-streams-per-identity", 0, "ADS streams one client certificate may hold open (default 8)")
	fs.Float64Var(&f.rps, "requests-per-second", 0, "ADS requests per stream and second (default 50, bursts of 100)")
	fs.DurationVar(&f.reloadEvery, "reload-every", 2*time.Second, "how often the catalog and MeshwardRotation files are checked for changes (0: never)")
	fs.StringArrayVar(&f.policies, "policy", nil, "policy file or directory (repeatable): a node is told only of the services its policies let it call (need-to-know); watched for changes")
	fs.StringArrayVar(&f.rotations, "rotations", nil, "MeshwardRotation file or directory (repeatable): pools and schedules in place of the catalog's")
	fs.StringVar(&f.sidecars, "sidecars", "", "what every Envoy sidecar's configuration shares (YAML: filter, authorizer, tls; see manifests/xds/sidecars.yaml); without it only proxyless clients are served")
	f.self.register(c)
	f.ha.register(c)
	fs.StringVar(&f.level, "log-level", "info", "debug, info, warn or error")
	_ = c.MarkFlagRequired("catalog")
	c.AddCommand(status())
	return c
}

func run(f flags) error {
	log, err := logging.New(os.Stderr, "xds", f.level)
	if err != nil {
		return err
	}
	fp, _ := fingerprint(f) // before the catalog is read: a change meanwhile is reloaded
	cfg, err := config(f)
	if err != nil {
		return err
	}
	cfg.Log = log
	if cfg.HA, err = f.ha.config(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var w *policy.Watcher
	if len(f.policies) > 0 {
		w = policy.NewWatcher(0, f.policies...)
		set, err := w.Load()
		if err != nil {
			return err
		}
		cfg.Reach = reach.New(set)
	}
	r, err := server.Start(ctx, cfg)
	if err != nil {
		return err
	}
	if w != nil {
		watchPolicies(ctx, w, r, cfg.Reach.(*reach.Policies), log)
	}
	if f.reloadEvery > 0 {
		go watchCatalog(ctx, f, r, fp, log)
	}
	<-ctx.Done()
	r.Stop()
	return nil
}

// config reads the files the flags name.
func config(f flags) (server.Config, error) {
	cat, err := loadCatalog(f)
	if err != nil {
		return server.Config{}, err
	}
	cfg := server.Config{Catalog: cat, Addr: f.addr, AdminAddr: f.adminAddr, RotateEvery: f.every,
		Admin:                 server.AdminAuth{AllowIDs: f.adminAllow, EventIDs: f.eventIDs},
		Defaults:              catalog.Schedule{Grace: f.grace, AckTimeout: f.ackTimeout, HardDeadline: f.hard},
		MaxStreamsPerIdentity: f.maxStreams, RequestsPerSecond: f.rps}
	if cfg.Sidecars, err = loadTemplate(f.sidecars); err != nil {
		return cfg, err
	}
	if cfg.Self, err = f.self.rotation(); err != nil {
		return cfg, err
	}
	if cfg.TLS, err = serverTLS("--tls-cert", f.tlsCert, f.tlsKey, f.clientCA); err != nil {
		return cfg, err
	}
	if cfg.Admin.TLS, err = serverTLS("--admin-tls-cert", f.adminCert, f.adminKey, f.adminClient); err != nil {
		return cfg, err
	}
	if f.adminToken != "" {
		if cfg.Admin.Token, err = readToken(f.adminToken); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// loadCatalog reads the catalog and applies the MeshwardRotations to it.
func loadCatalog(f flags) (*catalog.Catalog, error) {
	cat, err := catalog.Load(f.catalog)
	if err != nil || len(f.rotations) == 0 {
		return cat, err
	}
	rs, err := catalog.LoadRotations(f.rotations...)
	if err != nil {
		return nil, err
	}
	return cat.WithRotations(rs)
}

// watchPolicies applies policy changes: every node is told what changed
// for it. A set that does not load is refused and the last good one stays.
func watchPolicies(ctx context.Context, w *policy.Watcher, r *server.Running, p *reach.Policies, log zerolog.Logger) {
	w.OnApply = func(set *policy.Set) {
		p.Set(set)
		if err := r.Republish(ctx); err != nil {
			log.Error().Err(err).Msg("republishing after a policy change")
			return
		}
		log.Info().Int("rules", set.Len()).Msg("policies changed: need-to-know recomputed")
	}
	w.OnReject = func(err error) { log.Error().Err(err).Msg("policy change refused; keeping the last good set") }
	w.Start(ctx)
}
