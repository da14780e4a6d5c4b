package server

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/envoy"
	"github.com/meshward/meshward/xds/rotation"
	"github.com/meshward/meshward/xds/snapshot"
)

// Reach is the need-to-know rule: whether a caller (its SPIFFE ID; "" when
// it proved none) may call a service at all. A node is told of nothing
// else.
type Reach interface {
	Reachable(caller string, s catalog.Service) bool
}

// node is one xDS client: who it proved it is, what kind of client it is,
// and the versions it was last given (a version moves only when what the
// node gets changes, so a move elsewhere costs it nothing).
type node struct {
	id, identity string
	sidecar      *sidecarNode // nil: a proxyless gRPC client
	versions     map[resource.Type]uint64
	hashes       map[resource.Type]string
}

// sidecarNode is what a sidecar says of itself in its node metadata; it
// configures only itself with it.
type sidecarNode struct {
	service  string // the catalog service whose identity the sidecar proved
	endpoint int    // which of the service's endpoints it is
	app      envoy.Socket
	outbound envoy.Socket
}

// SidecarTemplate is what every sidecar's configuration shares.
type SidecarTemplate struct {
	Filter envoy.WasmFilter
	// PluginConfig makes the filter's configuration for a sidecar of the
	// identity whose service carries labels, inbound or outbound (""
	// leaves the filter off there).
	PluginConfig     func(identity string, labels map[string]string, inbound bool) (string, error)
	Authz            envoy.Authorizer
	TLS              envoy.TLS
	DrainAfter       time.Duration
	BufferLimitBytes uint32
}

// TemplateOf makes the server's template from an operator's file.
func TemplateOf(t *envoy.Template) *SidecarTemplate {
	return &SidecarTemplate{Filter: t.Filter, PluginConfig: t.PluginConfig, Authz: t.Authz, TLS: t.TLS,
		DrainAfter: t.DrainAfter, BufferLimitBytes: t.BufferLimitBytes}
}

// Node metadata keys a sidecar's bootstrap sets.
const (
	MetaKind     = "meshward.kind" // "sidecar"; anything else is proxyless
	MetaEndpoint = "meshward.endpoint"
	MetaApp      = "meshward.app"
	MetaOutbound = "meshward.outbound"
)

// register builds the first configuration of a node the server has not
// seen; the caller holds r.mu.
func (r *Running) register(ctx context.Context, id, identity string, md *corev3.Node) error {
	if _, known := r.nodes[id]; known {
		return nil
	}
	n := &node{id: id, identity: identity, versions: map[resource.Type]uint64{}, hashes: map[resource.Type]string{}}
	if md.GetMetadata().GetFields()[MetaKind].GetStringValue() == "sidecar" {
		sc, err := r.sidecarOf(identity, md)
		if err != nil {
			return err
		}
		n.sidecar = sc
		r.fronted[sc.service] = true
	}
	if err := r.publishNode(ctx, n, r.served); err != nil {
		return err
	}
	r.nodes[id] = n
	return nil
}

func (r *Running) sidecarOf(identity string, md *corev3.Node) (*sidecarNode, error) {
	if r.cfg.Sidecars == nil {
		return nil, fmt.Errorf("this server configures no sidecars")
	}
	if identity == "" {
		return nil, fmt.Errorf("a sidecar must prove its identity (mutual TLS)")
	}
	var svc string
	for _, s := range r.planner.Catalog().Services {
		if s.Identity == identity {
			svc = s.Name
			break
		}
	}
	if svc == "" {
		return nil, fmt.Errorf("no service of the catalog runs as %s", identity)
	}
	f := md.GetMetadata().GetFields()
	idx, err := strconv.Atoi(f[MetaEndpoint].GetStringValue())
	if err != nil || idx < 0 {
		return nil, fmt.Errorf("metadata %s: want an endpoint index", MetaEndpoint)
	}
	app, err1 := socketOf(f[MetaApp].GetStringValue())
	out, err2 := socketOf(f[MetaOutbound].GetStringValue())
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("metadata %s and %s: want address:port", MetaApp, MetaOutbound)
	}
	return &sidecarNode{service: svc, endpoint: idx, app: app, outbound: out}, nil
}

func socketOf(s string) (envoy.Socket, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return envoy.Socket{}, err
	}
	return envoy.Socket{Address: ap.Addr().String(), Port: uint32(ap.Port())}, nil
}

// memo holds, within one publication, the proxyless resources and their
// digests by the set of services they describe: most clients share one.
type memo map[string]built

type built struct {
	res    envoy.Resources
	hashes map[resource.Type]string
	names  map[resource.Type]map[string]bool // of the resources in res
}

// publishNode gives a node its configuration for placement p; the caller
// holds r.mu.
func (r *Running) publishNode(ctx context.Context, n *node, p *rotation.Placement) error {
	return r.publishNodeMemo(ctx, n, p, memo{})
}

func (r *Running) publishNodeMemo(ctx context.Context, n *node, p *rotation.Placement, m memo) error {
	if r.frozen(n.identity) { // quarantined: told nothing new (events_freeze.go)
		return nil
	}
	b, err := r.build(n, p, m)
	if err != nil {
		return fmt.Errorf("xds: node %q: %w", n.id, err)
	}
	res, hashes := b.res, b.hashes
	versions := map[resource.Type]string{}
	for _, typ := range envoy.ResourceTypes() {
		if hashes[typ] != n.hashes[typ] || n.versions[typ] == 0 {
			n.versions[typ]++
			n.hashes[typ] = hashes[typ]
		}
		versions[typ] = strconv.FormatUint(n.versions[typ], 10)
		r.acks.target(n.id, typ, n.versions[typ], b.names[typ])
	}
	var snap *cachev3.Snapshot
	if n.sidecar != nil {
		snap, err = res.Snapshot(versions) // checked: every reference resolves
	} else {
		// go-control-plane's check does not follow an API listener's route
		// reference, so it would refuse every proxyless snapshot.
		snap = &cachev3.Snapshot{}
		for _, typ := range envoy.ResourceTypes() {
			snap.Resources[cachev3.GetResponseType(typ)] = cachev3.NewResources(versions[typ], res[typ])
		}
	}
	if err != nil {
		return fmt.Errorf("xds: node %q: %w", n.id, err)
	}
	r.withAnnouncement(n.id, snap) // where the control plane is (selfannounce.go)
	return r.cache.SetSnapshot(ctx, n.id, snap)
}

// build makes what node n may know at placement p, with its digests.
func (r *Running) build(n *node, p *rotation.Placement, m memo) (built, error) {
	callable := r.callable(n.identity, p)
	key := strings.Join(callable, "\x00")
	if n.sidecar == nil {
		if b, ok := m[key]; ok {
			return b, nil
		}
	}
	var res envoy.Resources
	var err error
	if n.sidecar == nil {
		var raw map[resource.Type][]types.Resource
		raw, err = snapshot.Resources(p, callable)
		res = envoy.Resources(raw)
	} else {
		res, err = envoy.Build(r.sidecarConfig(n, p, callable))
	}
	if err != nil {
		return built{}, err
	}
	hashes, err := res.Versions()
	if err != nil {
		return built{}, err
	}
	b := built{res, hashes, map[resource.Type]map[string]bool{}}
	for typ, items := range res {
		b.names[typ] = map[string]bool{}
		for _, it := range items {
			b.names[typ][cachev3.GetResourceName(it)] = true
		}
	}
	if n.sidecar == nil {
		m[key] = b
	}
	return b, nil
}

// callable lists the services the identity may call.
func (r *Running) callable(identity string, p *rotation.Placement) []string {
	var out []string
	for _, name := range p.Services() {
		s, _ := r.planner.Catalog().Lookup(name)
		if r.cfg.Reach == nil || r.cfg.Reach.Reachable(identity, s) {
			out = append(out, name)
		}
	}
	return out
}

// sidecarConfig describes a sidecar for xds/envoy.
func (r *Running) sidecarConfig(n *node, p *rotation.Placement, callable []string) envoy.Sidecar {
	t := r.cfg.Sidecars
	sc := envoy.Sidecar{Node: n.id, Identity: n.identity, Service: n.sidecar.service, App: n.sidecar.app,
		Outbound: n.sidecar.outbound, Filter: t.Filter, Authz: t.Authz, TLS: t.TLS, DrainAfter: t.DrainAfter,
		BufferLimitBytes: t.BufferLimitBytes}
	if in, ok := p.Instance(n.sidecar.service, n.sidecar.endpoint); ok {
		sc.Inbound = []envoy.Socket{envoy.Socket(in.Announced)}
		if in.Other != nil && in.Drain {
			sc.Draining = []envoy.Socket{envoy.Socket(*in.Other)}
		} else if in.Other != nil {
			sc.Inbound = append(sc.Inbound, envoy.Socket(*in.Other))
		}
	}
	for _, name := range callable {
		s, _ := r.planner.Catalog().Lookup(name)
		if s.Identity == "" {
			continue // a sidecar verifies who answers: a service without an identity cannot be called through one
		}
		peer := envoy.Peer{Service: name, Identity: s.Identity, Port: s.Port, Hosts: s.Hosts}
		for _, e := range p.Endpoints(name) {
			peer.Endpoints = append(peer.Endpoints, envoy.Socket(e))
		}
		sc.Calls = append(sc.Calls, peer)
	}
	if t.PluginConfig != nil {
		// An error leaves the configuration empty, which Build refuses.
		own, _ := r.planner.Catalog().Lookup(n.sidecar.service)
		sc.Filter.Inbound, _ = t.PluginConfig(n.identity, own.Labels, true)
		sc.Filter.Outbound, _ = t.PluginConfig(n.identity, own.Labels, false)
	}
	return sc
}

// sidecarsOf are the nodes that are service's sidecars; the caller holds
// r.mu.
func (r *Running) sidecarsOf(service string) map[string]bool {
	out := map[string]bool{}
	for id, n := range r.nodes {
		if n.sidecar != nil && n.sidecar.service == service {
			out[id] = true
		}
	}
	return out
}

// clusterNames are the names a service's endpoints go by: proxyless
// clients and sidecars name its cluster differently.
func clusterNames(s catalog.Service) []string {
	return []string{snapshot.ClusterName(s.Name), envoy.OutboundClusterName(envoy.Peer{Service: s.Name, Port: s.Port})}
}
