package sidecar

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/e2e/proxywasm"
	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/internal/pathnorm"
)

// OutboundXDSConfig is an outbound side configured by xDS.
type OutboundXDSConfig struct {
	// TLS is the sidecar's mesh identity (its certificate and the mesh
	// CA; identity.CA.ClientTLS makes one): every upstream connection
	// presents it and accepts only the SPIFFE ID its cluster names.
	TLS *tls.Config
	// Filters start the Wasm filter the listeners name; both sides' filters
	// (NewInbound's WithOutbound) come from it.
	Filters           FilterMaker
	PathNormalization pathnorm.Mode
	// Timeout bounds one upstream exchange; 0 means 30 s.
	Timeout time.Duration
	// DrainTime is how long a closed outbound socket serves the requests it
	// has; 0 means 5 s.
	DrainTime time.Duration
	// OnUpstream, if set, hears of every upstream attempt: the cluster, the
	// endpoint (address:port) and its error.
	OnUpstream func(cluster, endpoint string, err error)
	Log        zerolog.Logger
}

// OutboundXDS is the outbound side as Envoy's is configured: LDS opens its
// listener (a loopback socket only the app reaches) and names the filter's
// plugin configuration and the route configuration; RDS maps :authority to
// clusters (a host with no route gets 404 and nothing is sent: the node
// reaches only what it may know); CDS gives each cluster the SPIFFE ID its
// upstream must present; EDS its endpoints. Its Apply functions are called
// by Inbound.Apply, which owns the ADS stream's applier.
type OutboundXDS struct {
	cfg  OutboundXDSConfig
	self string

	mu        sync.Mutex // held by appliers
	clusters  map[string]clusterSpec
	endpoints map[string][]netip.AddrPort
	routes    map[string]routeTable
	pool      filterPool
	ln        *outboundSocket
	closed    bool
	changed   chan struct{}

	state atomic.Pointer[outboundState] // what requests read
	front atomic.Pointer[outboundFront]
	rr    atomic.Uint64
	drain sync.WaitGroup
}

// outboundState is one consistent view of routes, clusters and endpoints;
// a request reads one and never sees half an update.
type outboundState struct {
	routes     routeTable
	clusters   map[string]clusterSpec
	endpoints  map[string][]netip.AddrPort
	transports map[string]*http.Transport // by cluster
}

// outboundFront is the listener's filter and the exchange that runs it.
type outboundFront struct {
	inst *filterInstance
	x    *exchange
	spec outboundSpec
}

type outboundSocket struct {
	addr netip.AddrPort
	srv  *http.Server
}

// NewOutboundXDS makes an outbound side with no listener until LDS names one.
func NewOutboundXDS(cfg OutboundXDSConfig) (*OutboundXDS, error) {
	if cfg.TLS == nil || len(cfg.TLS.Certificates) == 0 || cfg.TLS.RootCAs == nil {
		return nil, errors.New("sidecar: an outbound side needs a TLS config with the sidecar's certificate and the mesh CA")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.DrainTime == 0 {
		cfg.DrainTime = 5 * time.Second
	}
	o := &OutboundXDS{cfg: cfg, self: identity.Own(cfg.TLS), pool: filterPool{make: cfg.Filters},
		clusters: map[string]clusterSpec{}, endpoints: map[string][]netip.AddrPort{}, routes: map[string]routeTable{},
		changed: make(chan struct{})}
	o.state.Store(&outboundState{transports: map[string]*http.Transport{}})
	return o, nil
}

// Addr is the outbound listener's socket, if LDS opened one.
func (o *OutboundXDS) Addr() (netip.AddrPort, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ln == nil {
		return netip.AddrPort{}, false
	}
	return o.ln.addr, true
}

// Endpoints are the current endpoints of an EDS cluster (by its name).
func (o *OutboundXDS) Endpoints(cluster string) []string {
	st := o.state.Load()
	var out []string
	for _, e := range st.endpoints[st.clusters[cluster].eds] {
		out = append(out, e.String())
	}
	return out
}

// Route is the cluster a request for host and path goes to, if any.
func (o *OutboundXDS) Route(host, path string) (string, bool) {
	return o.state.Load().routes.match(host, path)
}

// PluginConfig is the outbound filter's current plugin configuration.
func (o *OutboundXDS) PluginConfig() string {
	if f := o.front.Load(); f != nil && f.spec.filter != nil {
		return f.spec.filter.config
	}
	return ""
}

// FilterUsage is what the outbound filter instance serving now ran.
func (o *OutboundXDS) FilterUsage() proxywasm.Usage {
	if f := o.front.Load(); f != nil {
		return f.inst.host.Usage()
	}
	return proxywasm.Usage{}
}

// Changed is closed at the next applied change.
func (o *OutboundXDS) Changed() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.changed
}

// publish makes the applied resources the requests' view; the caller
// holds o.mu.
func (o *OutboundXDS) publish() {
	old := o.state.Load()
	st := &outboundState{clusters: o.clusters, endpoints: o.endpoints, transports: map[string]*http.Transport{}}
	if f := o.front.Load(); f != nil {
		st.routes = o.routes[f.spec.routes]
	}
	for name, c := range o.clusters {
		if c.eds == "" {
			continue
		}
		if t := old.transports[name]; t != nil && sameSANs(old.clusters[name].sans, c.sans) {
			st.transports[name] = t
			if !sameSockets(old.endpoints[c.eds], o.endpoints[c.eds]) {
				t.CloseIdleConnections() // connections to endpoints that left are not reused
			}
			continue
		}
		st.transports[name] = &http.Transport{TLSClientConfig: sanCheck(o.cfg.TLS, c.sans),
			MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second, DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext}
	}
	for name, t := range old.transports {
		if st.transports[name] != t {
			t.CloseIdleConnections()
		}
	}
	o.state.Store(st)
	close(o.changed)
	o.changed = make(chan struct{})
}

// applyClusters takes a CDS response.
func (o *OutboundXDS) applyClusters(cs map[string]clusterSpec) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.clusters = cs
	o.pool.clusters = calloutClusters(cs)
	o.publish()
}

// applyEndpoints takes an EDS response.
func (o *OutboundXDS) applyEndpoints(eps map[string][]netip.AddrPort) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.endpoints = eps
	o.publish()
}

// applyRoutes takes an RDS response; a route to a cluster CDS did not give
// is refused (Envoy would answer 503 to every request it matches).
func (o *OutboundXDS) applyRoutes(rts map[string]routeTable) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, t := range rts {
		for _, c := range t.clustersOf() {
			if _, ok := o.clusters[c]; !ok {
				return fmt.Errorf("route configuration %q: unknown cluster %q", t.name, c)
			}
		}
	}
	o.routes = rts
	o.publish()
	return nil
}

func sameSANs(a, b []string) bool {
	return maps.Equal(setOf(a), setOf(b))
}

func setOf(s []string) map[string]bool {
	m := map[string]bool{}
	for _, v := range s {
		m[v] = true
	}
	return m
}

// Close stops the listener and the filter instances.
func (o *OutboundXDS) Close() {
	o.mu.Lock()
	o.closed = true
	if o.ln != nil {
		o.ln.srv.Close()
		o.ln = nil
	}
	o.front.Store(nil)
	o.pool.close()
	for _, t := range o.state.Load().transports {
		t.CloseIdleConnections()
	}
	o.mu.Unlock()
	o.drain.Wait()
}

// closeLater lets a socket that left LDS finish its requests.
func (o *OutboundXDS) closeLater(s *outboundSocket) {
	o.drain.Add(1)
	go func() {
		defer o.drain.Done()
		ctx, cancel := context.WithTimeout(context.Background(), o.cfg.DrainTime)
		defer cancel()
		_ = s.srv.Shutdown(ctx)
		s.srv.Close()
	}()
}
