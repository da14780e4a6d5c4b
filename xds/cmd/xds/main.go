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

func serve() *cobra.Command {
	var catalogFile, addr, adminAddr, level string
	var every time.Duration
	c := &cobra.Command{
		Use:          "xds --catalog FILE",
		Short:        "serve ADS from a service catalog and rotate service endpoints",
		SilenceUsage: true,
		RunE: func(*cobra.Command, []string) error {
			log, err := logging.New(os.Stderr, "xds", level)
			if err != nil {
				return err
			}
			cat, err := catalog.Load(catalogFile)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			r, err := server.Start(ctx, server.Config{Catalog: cat, Addr: addr, AdminAddr: adminAddr, RotateEvery: every, Log: log})
			if err != nil {
				return err
			}
			<-ctx.Done()
			r.Stop()
			return nil
		},
	}
	c.Flags().StringVar(&catalogFile, "catalog", "", "service catalog (YAML)")
	c.Flags().StringVar(&addr, "addr", "127.0.0.1:18000", "ADS address")
	c.Flags().StringVar(&adminAddr, "admin-addr", "127.0.0.1:18001", "admin address: POST /rotate?service=S[&port=P], GET /placement, /metrics")
	c.Flags().DurationVar(&every, "rotate-every", 0, "rotate every service with a port pool this often (0: only on POST /rotate)")
	c.Flags().StringVar(&level, "log-level", "info", "debug, info, warn or error")
	_ = c.MarkFlagRequired("catalog")
	return c
}
