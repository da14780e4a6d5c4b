package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"

	"github.com/meshward/meshward/api/check"
	verdictv1 "github.com/meshward/meshward/api/verdict/v1"
	"github.com/meshward/meshward/extauthz/decision"
	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/extauthz/quarantine"
)

// Config is what one authorizer process serves.
type Config struct {
	Policy       *policy.Set
	GRPCAddr     string // ext_authz and verdicts
	HTTPAddr     string // the filter's check, /metrics, /healthz
	VerdictToken []byte // required: the verdict API is never open
	Log          zerolog.Logger
}

// Running is a started authorizer.
type Running struct {
	Authorizer *Authorizer
	GRPCAddr   net.Addr
	HTTPAddr   net.Addr
	grpc       *grpc.Server
	http       *http.Server
	done       chan error
}

// Start opens both listeners and serves until Stop.
func Start(cfg Config) (*Running, error) {
	if len(cfg.VerdictToken) == 0 {
		return nil, errors.New("authorizer: a verdict token is required")
	}
	if cfg.Policy == nil {
		return nil, errors.New("authorizer: no policy")
	}
	gl, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return nil, fmt.Errorf("authorizer: grpc listener: %w", err)
	}
	hl, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		gl.Close()
		return nil, fmt.Errorf("authorizer: http listener: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	q := quarantine.New()
	a := &Authorizer{
		Engine:  decision.New(cfg.Policy, q),
		Metrics: NewMetrics(reg, func() float64 { return float64(q.Len()) }),
		Log:     cfg.Log,
	}
	r := &Running{Authorizer: a, GRPCAddr: gl.Addr(), HTTPAddr: hl.Addr(), done: make(chan error, 2)}
	r.grpc = grpc.NewServer(grpc.ChainUnaryInterceptor(TokenAuth(cfg.VerdictToken)))
	authv3.RegisterAuthorizationServer(r.grpc, ExtAuthz{A: a})
	verdictv1.RegisterVerdictsServer(r.grpc, Verdicts{A: a})

	mux := http.NewServeMux()
	mux.HandleFunc(check.Path, a.ServeCheck)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	r.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	go func() { r.done <- r.grpc.Serve(gl) }()
	go func() { r.done <- r.http.Serve(hl) }()
	cfg.Log.Info().Str("grpc", gl.Addr().String()).Str("http", hl.Addr().String()).
		Int("rules", cfg.Policy.Len()).Msg("authorizer serving")
	return r, nil
}

// Stop drains both servers.
func (r *Running) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = r.http.Shutdown(ctx)
	r.grpc.GracefulStop()
}

// Wait returns when either server fails.
func (r *Running) Wait() error { return <-r.done }
