// Package server is meshward's moving-target-defense xDS server: a
// go-control-plane ADS server whose snapshots come from the rotation planner,
// with an admin endpoint and an optional timer that rotate services.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"

	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/rotation"
	"github.com/meshward/meshward/xds/snapshot"
)

// Config is what one xDS server serves.
type Config struct {
	Catalog     *catalog.Catalog
	Addr        string        // ADS (gRPC)
	AdminAddr   string        // POST /rotate, GET /placement, /metrics
	RotateEvery time.Duration // 0: only when told
	Log         zerolog.Logger
}

// meshGroup is the one snapshot group: every node sees every service for now.
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
	rotations *prometheus.CounterVec
	version   prometheus.Gauge
	stop      chan struct{}
}

// Start serves ADS and the admin endpoint.
func Start(ctx context.Context, cfg Config) (*Running, error) {
	if cfg.Catalog == nil {
		return nil, errors.New("xds: no catalog")
	}
	r := &Running{planner: rotation.New(cfg.Catalog), log: cfg.Log, stop: make(chan struct{}),
		cache: cachev3.NewSnapshotCache(true, meshHash{}, nil)}
	reg := r.metrics()
	if err := r.publish(ctx, r.planner.Current()); err != nil {
		return nil, err
	}
	if err := r.listen(ctx, cfg, reg); err != nil {
		return nil, err
	}
	if cfg.RotateEvery > 0 {
		go r.rotateEvery(ctx, cfg.RotateEvery, cfg.Catalog)
	}
	return r, nil
}

func (r *Running) metrics() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	r.rotations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshward_xds_rotations_total", Help: "Endpoint moves by service and trigger.",
	}, []string{"service", "trigger"})
	r.version = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "meshward_xds_snapshot_version", Help: "Version of the snapshot being served.",
	})
	reg.MustRegister(r.rotations, r.version)
	return reg
}

func (r *Running) listen(ctx context.Context, cfg Config, reg *prometheus.Registry) error {
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
	r.grpc = grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(r.grpc, serverv3.NewServer(ctx, r.cache, r.callbacks()))
	mux := http.NewServeMux()
	mux.HandleFunc("POST /rotate", r.serveRotate)
	mux.HandleFunc("GET /placement", r.servePlacement)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	r.admin = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.grpc.Serve(gl) }()
	go func() { _ = r.admin.Serve(al) }()
	r.log.Info().Str("ads", gl.Addr().String()).Str("admin", al.Addr().String()).Msg("xds serving")
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
	r.version.Set(float64(p.Version))
	return nil
}

// Move puts service on port (port 0: the next port of its pool) and serves
// the new placement.
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
	r.rotations.WithLabelValues(service, trigger).Inc()
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

type placementJSON struct {
	Version   uint64              `json:"version"`
	Endpoints map[string][]string `json:"endpoints"`
}

func toJSON(p *rotation.Placement) placementJSON {
	out := placementJSON{Version: p.Version, Endpoints: map[string][]string{}}
	for _, s := range p.Services() {
		for _, e := range p.Endpoints(s) {
			out.Endpoints[s] = append(out.Endpoints[s], e.String())
		}
	}
	return out
}

// serveRotate: POST /rotate?service=S[&port=P].
func (r *Running) serveRotate(w http.ResponseWriter, req *http.Request) {
	service := req.URL.Query().Get("service")
	var port uint64
	if ps := req.URL.Query().Get("port"); ps != "" {
		var err error
		if port, err = strconv.ParseUint(ps, 10, 16); err != nil || port == 0 {
			http.Error(w, fmt.Sprintf("rotate: port %q: want 1-65535", ps), http.StatusBadRequest)
			return
		}
	}
	p, err := r.Move(req.Context(), service, uint32(port), "admin")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(toJSON(p))
}

func (r *Running) servePlacement(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(toJSON(r.planner.Current()))
}

// Stop ends serving.
func (r *Running) Stop() {
	close(r.stop)
	_ = r.admin.Close()
	r.grpc.Stop()
}
