package main

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/meshward/meshward/extauthz/eaas/roles"
	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/internal/logging"
)

// eaasServe runs EaaS roles as replicas of their own (the seed's scenarios
// β and λ), without the authorizer.
func eaasServe() *cobra.Command {
	var f eaasFlags
	var cert, key, ca, tokenFile, httpAddr, level string
	c := &cobra.Command{
		Use:   "serve",
		Short: "run EaaS roles as their own replicas (--roles), gRPC over mutual TLS",
		RunE: func(*cobra.Command, []string) error {
			log, err := logging.New(os.Stderr, "eaas", level)
			if err != nil {
				return err
			}
			if cert == "" || key == "" || ca == "" {
				return errors.New("eaas serve: --tls-cert, --tls-key and --client-ca are required: roles talk mutual TLS with the mesh CA")
			}
			serverTLS, err := identity.LoadServerTLS(cert, key, ca)
			if err != nil {
				return err
			}
			token, err := readToken(tokenFile)
			if err != nil {
				return err
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			r, err := startEaaS(&f, serverTLS, cert, key, ca, token, reg, log)
			if err != nil {
				return err
			}
			defer r.Stop()
			hs, err := serveHTTP(httpAddr, serverTLS, r, reg)
			if err != nil {
				return err
			}
			if hs != nil {
				log.Info().Str("http", hs.Addr).Msg("eaas http serving")
			}
			defer shutdown(hs)
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
			select {
			case s := <-sig:
				log.Info().Str("signal", s.String()).Msg("stopping")
				return nil
			case err := <-r.Wait():
				return err
			}
		},
	}
	f.add(c.Flags(), "")
	c.Flags().StringVar(&cert, "tls-cert", "", "this replica's mesh certificate (PEM)")
	c.Flags().StringVar(&key, "tls-key", "", "its key")
	c.Flags().StringVar(&ca, "client-ca", "", "the mesh CA (PEM)")
	c.Flags().StringVar(&tokenFile, "token-file", "", "the operator's bearer token")
	c.Flags().StringVar(&httpAddr, "http-addr", "", "HTTP port (mutual TLS) for /metrics, /healthz and, on a coordinator, the sidecars' enrolment and messages")
	c.Flags().StringVar(&level, "log-level", "info", "debug, info, warn or error")
	_ = c.MarkFlagRequired("token-file")
	return c
}

func serveHTTP(addr string, serverTLS *tls.Config, r *roles.Running, reg *prometheus.Registry) (*http.Server, error) {
	if addr == "" {
		return nil, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	cfg := serverTLS.Clone()
	cfg.ClientAuth = tls.VerifyClientCertIfGiven // /metrics and /healthz for scrapers; EaaS endpoints check
	mux := http.NewServeMux()
	r.Mount(mux)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	hs := &http.Server{Addr: l.Addr().String(), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(tls.NewListener(l, cfg)) }()
	return hs, nil
}

func shutdown(hs *http.Server) {
	if hs == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(ctx)
}
