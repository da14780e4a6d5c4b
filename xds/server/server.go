// Package server is meshward's moving-target-defense xDS server: a
// go-control-plane ADS server whose snapshots come from the rotation planner,
// with an authenticated admin endpoint and an optional timer that rotate
// services.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/rotation"
	"github.com/meshward/meshward/xds/snapshot"
)

// Config is what one xDS server serves.
type Config struct {
	Catalog     *catalog.Catalog
	Addr        string      // ADS (gRPC)
	TLS         *tls.Config // ADS over TLS; with ClientCAs, clients need a certificate from them. nil: plaintext
	AdminAddr   string      // POST /rotate, GET /placement, /metrics
	Admin       AdminAuth
	RotateEvery time.Duration // 0: only when told
	Log         zerolog.Logger
}

// meshGroup is the one snapshot group: every node sees every service for now,
// so the group's snapshot holds every service any client may ask for.
const meshGroup = "mesh"

type meshHash struct{}

func (meshHash) ID(*corev3.Node) string { return meshGroup }

// Running is a started xDS server.
type Running struct {
	Addr      net.Addr
	AdminAddr net.Addr
	planner   *rotation.Planner
	cache     cachev3.SnapshotCache
	grpc      *grpc.Server
	admin     *http.Server
	log       zerolog.Logger
	mu        sync.Mutex // serializes placement changes and snapshot sets
	metrics   *metrics
	stop      chan struct{}
}

// Start serves ADS and the admin endpoint. It refuses an admin endpoint that
// nobody would have to authenticate to.
func Start(ctx context.Context, cfg Config) (*Running, error) {
	if cfg.Catalog == nil {
		return nil, errors.New("xds: no catalog")
	}
	if err := cfg.Admin.check(cfg.AdminAddr); err != nil {
		return nil, err
	}
	// Not ADS mode: in it the cache answers only requests that name every
	// resource of the type in the snapshot (as Envoy does), and a proxyless
	// client names only the services it calls, so with two services in the
	// catalog it never got an answer. Outside ADS mode the cache answers with
	// every requested resource it has, the complete set grpc-go expects for
	// listeners and clusters.
	r := &Running{planner: rotation.New(cfg.Catalog), log: cfg.Log, stop: make(chan struct{}),
		cache: cachev3.NewSnapshotCache(false, meshHash{}, nil), metrics: newMetrics()}
	if err := r.publish(ctx, r.planner.Current()); err != nil {
		return nil, err
	}
	if err := r.listen(ctx, cfg); err != nil {
		return nil, err
	}
	if cfg.RotateEvery > 0 {
		go r.rotateEvery(ctx, cfg.RotateEvery, cfg.Catalog)
	}
	return r, nil
}

func (r *Running) listen(ctx context.Context, cfg Config) error {
	gl, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("xds: listener: %w", err)
	}
	al, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		gl.Close()
		return fmt.Errorf("xds: admin listener: %w", err)
	}
	r.Addr, r.AdminAddr = gl.Addr(), al.Addr()
	var opts []grpc.ServerOption
	if cfg.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.TLS)))
	}
	r.grpc = grpc.NewServer(opts...)
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(r.grpc, serverv3.NewServer(ctx, r.cache, r.callbacks()))
	r.admin = r.adminServer(cfg.Admin)
	go func() { _ = r.grpc.Serve(gl) }()
	go func() {
		if r.admin.TLSConfig != nil {
			_ = r.admin.ServeTLS(al, "", "")
			return
		}
		_ = r.admin.Serve(al)
	}()
	r.log.Info().Str("ads", gl.Addr().String()).Bool("ads_tls", cfg.TLS != nil).Bool("ads_mtls", cfg.TLS != nil && cfg.TLS.ClientCAs != nil).
		Str("admin", al.Addr().String()).Str("admin_auth", cfg.Admin.describe()).Msg("xds serving")
	return nil
}

func (r *Running) callbacks() serverv3.Callbacks {
	return serverv3.CallbackFuncs{
		StreamRequestFunc: func(id int64, req *discoveryv3.DiscoveryRequest) error {
			if e := req.GetErrorDetail(); e != nil {
				r.log.Warn().Int64("stream", id).Str("node", req.GetNode().GetId()).Str("type", req.GetTypeUrl()).
					Str("version", req.GetVersionInfo()).Str("error", e.GetMessage()).Msg("xds NACK")
			}
			return nil
		},
		StreamClosedFunc: func(id int64, n *corev3.Node) {
			r.log.Debug().Int64("stream", id).Str("node", n.GetId()).Msg("xds stream closed")
		},
	}
}

// publish serves a placement; the caller holds r.mu or is Start.
func (r *Running) publish(ctx context.Context, p *rotation.Placement) error {
	snap, err := snapshot.Build(p)
	if err != nil {
		return fmt.Errorf("xds: building snapshot v%d: %w", p.Version, err)
	}
	if err := r.cache.SetSnapshot(ctx, meshGroup, snap); err != nil {
		return fmt.Errorf("xds: setting snapshot v%d: %w", p.Version, err)
	}
	r.metrics.version.Set(float64(p.Version))
	return nil
}

// Current is the placement being served.
func (r *Running) Current() *rotation.Placement { return r.planner.Current() }

// Move puts service on port (port 0: the next port of its pool) and serves
// the new placement. A port outside the service's pool is refused.
func (r *Running) Move(ctx context.Context, service string, port uint32, trigger string) (*rotation.Placement, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var p *rotation.Placement
	var err error
	if port == 0 {
		p, err = r.planner.Rotate(service)
	} else {
		p, err = r.planner.Move(service, port)
	}
	if err != nil {
		return nil, err
	}
	if err := r.publish(ctx, p); err != nil {
		return nil, err
	}
	r.metrics.rotations.WithLabelValues(service, trigger).Inc()
	r.log.Info().Str("service", service).Uint64("version", p.Version).
		Str("endpoints", fmt.Sprint(p.Endpoints(service))).Str("trigger", trigger).Msg("service moved")
	return p, nil
}

func (r *Running) rotateEvery(ctx context.Context, every time.Duration, cat *catalog.Catalog) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			for _, s := range cat.Services {
				if len(s.Ports) == 0 {
					continue
				}
				if _, err := r.Move(ctx, s.Name, 0, "timer"); err != nil {
					r.log.Error().Err(err).Str("service", s.Name).Msg("timed rotation failed")
				}
			}
		case <-r.stop:
			return
		case <-ctx.Done():
			return
		}
	}
}

// Stop ends serving.
func (r *Running) Stop() {
	close(r.stop)
	_ = r.admin.Close()
	r.grpc.Stop()
}
