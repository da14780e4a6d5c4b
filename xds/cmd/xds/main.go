// Command xds is meshward's moving-target-defense xDS server.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshward/meshward/internal/logging"

	"github.com/meshward/meshward/xds/catalog"
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
	tlsCert, tlsKey, clientCA        string
	adminToken                       string
	adminCert, adminKey, adminClient string
	adminAllow                       []string
	every                            time.Duration
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
	fs.DurationVar(&f.every, "rotate-every", 0, "rotate every service with a port pool this often (0: only on POST /rotate)")
	fs.StringVar(&f.level, "log-level", "info", "debug, info, warn or error")
	_ = c.MarkFlagRequired("catalog")
	return c
}

func run(f flags) error {
	log, err := logging.New(os.Stderr, "xds", f.level)
	if err != nil {
		return err
	}
	cfg, err := config(f)
	if err != nil {
		return err
	}
	cfg.Log = log
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	r, err := server.Start(ctx, cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	r.Stop()
	return nil
}

// config reads the files the flags name.
func config(f flags) (server.Config, error) {
	cat, err := catalog.Load(f.catalog)
	if err != nil {
		return server.Config{}, err
	}
	cfg := server.Config{Catalog: cat, Addr: f.addr, AdminAddr: f.adminAddr, RotateEvery: f.every,
		Admin: server.AdminAuth{AllowIDs: f.adminAllow}}
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
