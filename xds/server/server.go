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
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"

	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/rotation"
)

// Config is what one xDS server serves.
type Config struct {
	Catalog     *catalog.Catalog
	Addr        string // ADS (gRPC); with Self.Pool, drawn from the pool instead
	Self        SelfRotation
	TLS         *tls.Config // ADS over TLS; with ClientCAs, clients need a certificate from them. nil: plaintext
	AdminAddr   string      // POST /rotate, GET /placement, /metrics
	Admin       AdminAuth
	RotateEvery time.Duration // services with a pool but no schedule of their own move this often; 0: only when told
	// Defaults are the grace period, acknowledgement timeout and hard
	// deadline of services without a schedule (zero: the catalog's).
	Defaults catalog.Schedule
	// MaxStreamsPerIdentity bounds the ADS streams one client certificate
	// may hold open, RequestsPerSecond each stream's requests (zero: the
	// defaults).
	MaxStreamsPerIdentity int
	RequestsPerSecond     float64
	// Reach is the need-to-know rule (nil: every node knows every
	// service); Sidecars what sidecar nodes share (nil: only proxyless
	// clients are served).
	Reach    Reach
	Sidecars *SidecarTemplate
	HA       *HA // one of several replicas (ha.go); nil: the only one
	Log      zerolog.Logger
}

// nodeHash keys snapshots by node: each node is told only what it may
// know.
type nodeHash struct{}

func (nodeHash) ID(n *corev3.Node) string { return n.GetId() }

// Running is a started xDS server.
type Running struct {
	Addr      net.Addr // where ADS started; ADSAddr says where it is now
	AdminAddr net.Addr
	planner   *rotation.Planner
	cache     cachev3.SnapshotCache
	listeners adsListeners // ADS, one or two addresses (selflisten.go)
	self      selfMove     // the ADS port's own moves (selfmove.go)
	admin     *http.Server
	log       zerolog.Logger
	mu        sync.Mutex    // serializes placement changes and snapshot sets
	moved     chan struct{} // closed (and replaced) whenever a move ends; under mu
	metrics   *metrics
	// selfMetrics are the ADS port's moves.
	selfMetrics *selfMetrics
	acks        *acks
	lastNACK    nackLog                // status.go
	nodes       map[string]*node       // under mu
	lastMove    map[string]*MoveRecord // under mu
	fronted     map[string]bool        // services a sidecar ever fronted; under mu
	// stopTimers ends the timers of the catalog they were started for;
	// under mu.
	stopTimers context.CancelFunc
	nextDue    map[string]time.Time // under mu
	served     *rotation.Placement  // under mu
	ev         *events              // the authorizer's security events (events.go)
	cfg        Config
	defaults   catalog.Schedule
	stop       chan struct{}
	term       term             // the leadership held, with HA
	haLease    clientv3.LeaseID // this replica's acknowledgements' lease, with HA
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
	r := &Running{planner: rotation.New(cfg.Catalog), log: cfg.Log, stop: make(chan struct{}), moved: make(chan struct{}),
		cache: cachev3.NewSnapshotCache(false, nodeHash{}, nil), acks: newAcks(), cfg: cfg, defaults: defaults(cfg.Defaults),
		nodes: map[string]*node{}, lastMove: map[string]*MoveRecord{}, fronted: map[string]bool{}, nextDue: map[string]time.Time{}}
	r.metrics = newMetrics(r.acks)
	r.ev = newEvents(r)
	if err := r.publish(ctx, r.planner.Current()); err != nil {
		return nil, err
	}
	if err := r.listen(ctx, cfg); err != nil {
		return nil, err
	}
	r.registerSelfMetrics()
	if cfg.HA != nil {
		if err := r.startHA(ctx); err != nil {
			r.Stop()
			return nil, err
		}
	} else {
		r.startTimers(ctx)
	}
	go r.selfTimer(ctx)
	return r, nil
}

// defaults fills what d leaves out from the catalog's defaults.
func defaults(d catalog.Schedule) catalog.Schedule {
	out := catalog.DefaultSchedule()
	if d.Grace > 0 {
		out.Grace = d.Grace
	}
	if d.AckTimeout > 0 {
		out.AckTimeout = d.AckTimeout
	}
	if d.HardDeadline > 0 {
		out.HardDeadline = d.HardDeadline
	}
	out.HardDeadline = max(out.HardDeadline, out.AckTimeout)
	return out
}

func (r *Running) listen(ctx context.Context, cfg Config) error {
	var opts []grpc.ServerOption
	if cfg.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.TLS)))
	}
	gl, err := r.listenFirst(ctx, opts)
	if err != nil {
		return err
	}
	al, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		r.stopListeners()
		return fmt.Errorf("xds: admin listener: %w", err)
	}
	r.Addr, r.AdminAddr = gl.addr, al.Addr()
	r.admin = r.adminServer(cfg.Admin)
	go func() {
		if r.admin.TLSConfig != nil {
			_ = r.admin.ServeTLS(al, "", "")
			return
		}
		_ = r.admin.Serve(al)
	}()
	r.log.Info().Str("ads", gl.addr.String()).Int("ads_pool", len(cfg.Self.Pool)).Bool("ads_tls", cfg.TLS != nil).Bool("ads_mtls", cfg.TLS != nil && cfg.TLS.ClientCAs != nil).
		Str("admin", al.Addr().String()).Str("admin_auth", cfg.Admin.describe()).Msg("xds serving")
	return nil
}

// callbacks guard and follow every stream, state of the world and delta
// alike: a delta stream must not be a way around the guard.
func (r *Running) callbacks() serverv3.CallbackFuncs {
	return serverv3.CallbackFuncs{
		StreamOpenFunc:      func(ctx context.Context, id int64, _ string) error { return r.openStream(ctx, id) },
		DeltaStreamOpenFunc: func(ctx context.Context, id int64, _ string) error { return r.openStream(ctx, id) },
		StreamRequestFunc: func(id int64, req *discoveryv3.DiscoveryRequest) error {
			if err := r.checkShape(id, sotwShape(req)); err != nil {
				return err
			}
			if err := r.admitRequest(id, req.GetNode()); err != nil {
				return err
			}
			r.counted(id, req.GetTypeUrl(), req.GetResponseNonce(), req.GetNode().GetId(), req.GetErrorDetail().GetMessage(), r.acks.request(id, req))
			r.acks.opened(req.GetResponseNonce())
			return nil
		},
		StreamDeltaRequestFunc: func(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
			if err := r.checkShape(id, deltaShape(req)); err != nil {
				return err
			}
			if err := r.admitRequest(id, req.GetNode()); err != nil {
				return err
			}
			r.counted(id, req.GetTypeUrl(), req.GetResponseNonce(), req.GetNode().GetId(), req.GetErrorDetail().GetMessage(), r.acks.deltaRequest(id, req))
			r.acks.opened(req.GetResponseNonce())
			return nil
		},
		StreamResponseFunc: func(_ context.Context, id int64, _ *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
			r.acks.response(id, resp.GetNonce(), resp.GetVersionInfo())
		},
		StreamDeltaResponseFunc: func(id int64, _ *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
			r.acks.response(id, resp.GetNonce(), resp.GetSystemVersionInfo())
		},
		StreamClosedFunc:      r.streamClosed,
		DeltaStreamClosedFunc: r.streamClosed,
	}
}

// admitRequest runs the guard on a request and configures a node seen for
// the first time.
func (r *Running) admitRequest(id int64, n *corev3.Node) error {
	g := r.acks.guardOf(id)
	if g == nil {
		return r.refuseStream("not-admitted", codes.PermissionDenied, "stream not admitted")
	}
	if err := r.checkRequest(g, n.GetId()); err != nil {
		r.log.Warn().Int64("stream", id).Str("identity", g.id).Str("node", n.GetId()).Err(err).Msg("xds stream refused")
		return err
	}
	if err := r.admitNode(id, g, n); err != nil {
		r.log.Warn().Int64("stream", id).Str("identity", g.id).Str("node", g.node).Err(err).Msg("xds node refused")
		return err
	}
	return nil
}

// counted reports an acknowledgement or a NACK.
func (r *Running) counted(id int64, typ, nonce, node, detail string, nack bool) {
	switch {
	case nack:
		r.metrics.acks.WithLabelValues(typ, "nack").Inc()
		r.noteNACK(id, node, typ, detail)
		r.log.Warn().Int64("stream", id).Str("node", node).Str("type", typ).Str("error", clipped(detail, maxDetailLog)).
			Msg("xds NACK: the node keeps its last good configuration")
	case nonce != "":
		r.metrics.acks.WithLabelValues(typ, "ack").Inc()
	}
}

func (r *Running) streamClosed(id int64, _ *corev3.Node) {
	node, last := r.acks.close(id)
	if last && !r.keep(node) {
		r.dropNode(node)
	}
	// The node it was admitted as: a refused request's node may be anything.
	r.log.Debug().Int64("stream", id).Str("node", node).Msg("xds stream closed")
}

// publish serves a placement to every node; the caller holds r.mu or is
// Start.
func (r *Running) publish(ctx context.Context, p *rotation.Placement) error {
	r.served = p
	memo := memo{}
	for _, n := range r.nodes {
		if err := r.publishNodeMemo(ctx, n, p, memo); err != nil {
			return fmt.Errorf("xds: placement v%d: %w", p.Version, err)
		}
	}
	r.metrics.version.Set(float64(p.Version))
	return nil
}

// Republish tells every node what it may know now: after a change of the
// need-to-know rule (a policy change), each node gets what changed for it
// (most get nothing: their versions do not move).
func (r *Running) Republish(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.publish(ctx, r.served)
}

// publishMove serves a placement in which only service moved: only its
// sidecars and the nodes that may call it can be told anything new, so
// the others are not even rebuilt. The caller holds r.mu.
func (r *Running) publishMove(ctx context.Context, p *rotation.Placement, service string) error {
	announced := r.served == nil || p.Announced != r.served.Announced
	r.served = p
	svc, _ := r.planner.Catalog().Lookup(service)
	memo := memo{}
	for _, n := range r.nodes {
		mine := n.sidecar != nil && n.sidecar.service == service
		switch {
		case mine:
		case !announced: // opening or closing sockets: only the service's sidecars listen anew
			continue
		case r.cfg.Reach != nil && !r.cfg.Reach.Reachable(n.identity, svc):
			continue
		}
		if err := r.publishNodeMemo(ctx, n, p, memo); err != nil {
			return fmt.Errorf("xds: placement v%d: %w", p.Version, err)
		}
	}
	r.metrics.version.Set(float64(p.Version))
	return nil
}

// admitNode gives a node seen for the first time its configuration before
// the server answers its request.
func (r *Running) admitNode(id int64, g *guard, n *corev3.Node) error {
	if g.node == "" {
		return r.refuseStream("no-node", codes.InvalidArgument, "the first request must name its node")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Claimed under r.mu, before the node is looked up: a stream of the
	// same node that closes meanwhile then cannot drop the node this one
	// relies on (dropNode looks again under r.mu).
	r.acks.claim(id, g.node)
	if err := r.register(context.Background(), g.node, g.id, n); err != nil {
		return r.refuseStream("node-config", codes.FailedPrecondition, err.Error())
	}
	return nil
}

// dropNode forgets a node whose last stream closed, unless a stream of
// the node was admitted since.
func (r *Running) dropNode(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.acks.live(id) {
		return
	}
	delete(r.nodes, id)
	r.cache.ClearSnapshot(id)
	r.acks.forget(id)
}

// Current is the placement being served.
func (r *Running) Current() *rotation.Placement { return r.planner.Current() }

// Stop ends serving.
func (r *Running) Stop() {
	close(r.stop)
	_ = r.admin.Close()
	r.stopListeners()
}
