package sidecar

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	stdlog "log"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/meshward/meshward/internal/identity"
)

// Inbound is the inbound side as LDS configures it: it listens on every
// inbound listener's socket with one Sidecar handler (so the filter runs on
// each), and its Apply opens the new sockets before it returns, which is
// what the ACK that follows tells the server.
type Inbound struct {
	handler *Sidecar
	tls     *tls.Config
	// drainTime is how long a socket that left LDS serves the connections
	// it has (Envoy's --drain-time-s) before they are cut.
	drainTime time.Duration
	log       zerolog.Logger

	mu      sync.Mutex
	socks   map[netip.AddrPort]*inboundServer
	opened  map[netip.AddrPort]time.Time
	changed chan struct{} // closed and replaced on every applied change
	closing sync.WaitGroup
	closed  bool
	// out, when set, takes the clusters, routes, endpoints and the outbound
	// listener, and makes the filters the listeners name (WithOutbound).
	out    *OutboundXDS
	served map[netip.AddrPort]*atomic.Int64
}

type inboundServer struct {
	ln       net.Listener
	srv      *http.Server
	draining bool
	timer    *time.Timer // keep-alives end when a draining socket's connections are old enough
	front    atomic.Pointer[inboundFront]
}

// inboundFront is a socket's filter instance (from its listener) and the
// handler that runs it.
type inboundFront struct {
	inst *filterInstance
	h    *Sidecar
}

// NewInbound makes the inbound side of h with the sidecar's server TLS
// configuration (mutual TLS with the mesh CA).
func NewInbound(h *Sidecar, tlsCfg *tls.Config, drainTime time.Duration, log zerolog.Logger) *Inbound {
	h.localID = identity.Own(tlsCfg) // set once: every socket's requests read it
	if h.Client == nil {
		h.Client = &http.Client{Timeout: 30 * time.Second}
	}
	return &Inbound{handler: h, tls: tlsCfg, drainTime: drainTime, log: log,
		socks: map[netip.AddrPort]*inboundServer{}, opened: map[netip.AddrPort]time.Time{}, changed: make(chan struct{}),
		served: map[netip.AddrPort]*atomic.Int64{}}
}

// WithOutbound hands the outbound side what is its in the sidecar's xDS
// resources (the outbound listener, routes, clusters, endpoints), and
// takes each inbound socket's filter from its listener, started by out's
// filter maker: the Sidecar's Host is then not used.
func (in *Inbound) WithOutbound(out *OutboundXDS) *Inbound {
	in.out = out
	return in
}

// Apply is the Applier of a sidecar's ADS stream: listeners open and close
// the inbound sockets; clusters and route configurations are checked (the
// outbound side that uses them is not here yet) and lead to the EDS and RDS
// subscriptions Envoy would make.
func (in *Inbound) Apply(typeURL string, res []*anypb.Any) (map[string][]string, error) {
	if in.out != nil {
		return in.applyWithOutbound(typeURL, res)
	}
	switch typeURL {
	case resource.ListenerType:
		want, err := inboundSockets(res)
		if err != nil {
			return nil, err
		}
		if err := in.listen(want, nil); err != nil {
			return nil, err
		}
		routes, err := routeNames(res)
		return subscription(resource.RouteType, routes), err
	case resource.ClusterType:
		names, err := edsNames(res)
		return subscription(resource.EndpointType, names), err
	case resource.RouteType:
		return nil, allOf(res, typeURL, func() proto.Message { return &routev3.RouteConfiguration{} })
	case resource.EndpointType:
		return nil, allOf(res, typeURL, func() proto.Message { return &endpointv3.ClusterLoadAssignment{} })
	}
	return nil, fmt.Errorf("type %q was not asked for", typeURL)
}

// applyWithOutbound is Apply for a sidecar with an outbound side. An LDS
// response is applied whole or not at all: the outbound listener and every
// filter are prepared first, then the inbound sockets open, then the
// outbound listener serves.
func (in *Inbound) applyWithOutbound(typeURL string, res []*anypb.Any) (map[string][]string, error) {
	o := in.out
	switch typeURL {
	case resource.ListenerType:
		return in.applyListeners(res)
	case resource.ClusterType:
		cs, err := parseClusters(res)
		if err != nil {
			return nil, err
		}
		o.applyClusters(cs)
		names, err := edsNames(res)
		return subscription(resource.EndpointType, names), err
	case resource.RouteType:
		rts, err := parseRoutes(res)
		if err != nil {
			return nil, err
		}
		return nil, o.applyRoutes(rts)
	case resource.EndpointType:
		eps, err := parseEndpoints(res)
		if err != nil {
			return nil, err
		}
		o.applyEndpoints(eps)
		return nil, nil
	}
	return nil, fmt.Errorf("type %q was not asked for", typeURL)
}

func (in *Inbound) applyListeners(res []*anypb.Any) (map[string][]string, error) {
	want, err := inboundSockets(res)
	if err != nil {
		return nil, err
	}
	specs, err := inboundFilters(res)
	if err != nil {
		return nil, err
	}
	outSpec, err := outboundOf(res)
	if err != nil {
		return nil, err
	}
	o := in.out
	o.mu.Lock()
	defer o.mu.Unlock()
	change, err := o.prepareListener(outSpec)
	if err != nil {
		return nil, err
	}
	filters, fresh, err := in.filtersFor(specs)
	if err == nil {
		err = in.listen(want, filters)
	}
	if err != nil {
		for _, f := range fresh {
			delete(o.pool.live, f.key)
			f.retire()
		}
		change.abort()
		return nil, err
	}
	change.commit(slices.Collect(maps.Values(filters)))
	routes, err := routeNames(res)
	return subscription(resource.RouteType, routes), err
}

// filtersFor gets (or starts) each inbound socket's filter instance; the
// caller holds in.out.mu.
func (in *Inbound) filtersFor(specs map[netip.AddrPort]*filterSpec) (map[netip.AddrPort]*filterInstance, []*filterInstance, error) {
	out := map[netip.AddrPort]*filterInstance{}
	var fresh []*filterInstance
	for a, sp := range specs {
		inst, isNew, err := in.out.pool.get(sp)
		if isNew {
			fresh = append(fresh, inst)
		}
		if err != nil {
			return nil, fresh, fmt.Errorf("listener %s%s: %w", inboundListenerPrefix, a, err)
		}
		out[a] = inst
	}
	return out, fresh, nil
}

// inboundFilters are the inbound listeners' Wasm filters by socket; an
// inbound listener without one is refused (the sidecar exists to run it).
func inboundFilters(res []*anypb.Any) (map[netip.AddrPort]*filterSpec, error) {
	out := map[netip.AddrPort]*filterSpec{}
	for i, a := range res {
		l, err := listenerOf(a)
		if err != nil {
			return nil, fmt.Errorf("listener %d: %w", i, err)
		}
		if l.GetTrafficDirection() != corev3.TrafficDirection_INBOUND && !strings.HasPrefix(l.GetName(), inboundListenerPrefix) {
			continue
		}
		s, err := inboundOf(l)
		if err != nil {
			return nil, fmt.Errorf("listener %d %q: %w", i, l.GetName(), err)
		}
		hcm, err := hcmOf(l)
		if err == nil {
			out[s.addr], err = wasmFilterOf(hcm)
		}
		if err == nil && out[s.addr] == nil {
			err = errors.New("no Wasm filter")
		}
		if err != nil {
			return nil, fmt.Errorf("listener %d %q: %w", i, l.GetName(), err)
		}
	}
	return out, nil
}

// listen makes the open sockets those of want: it binds the new ones
// first, and any that fails leaves everything as it was.
func (in *Inbound) listen(want map[netip.AddrPort]inboundSocket, filters map[netip.AddrPort]*filterInstance) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return errors.New("the sidecar is closing")
	}
	fresh := map[netip.AddrPort]*inboundServer{}
	for _, a := range sortedSockets(want) {
		if in.socks[a] != nil {
			continue
		}
		s, err := in.bind(a)
		if err != nil {
			for _, f := range fresh {
				f.srv.Close()
			}
			return fmt.Errorf("listener %s%s: %w", inboundListenerPrefix, a, err)
		}
		fresh[a] = s
	}
	now := time.Now()
	for a, s := range fresh {
		in.socks[a], in.opened[a] = s, now
	}
	for a, s := range in.socks {
		if f := filters[a]; f != nil && (s.front.Load() == nil || s.front.Load().inst != f) {
			h := *in.handler // the same upstream and identity, another filter
			h.Host = f.host
			s.front.Store(&inboundFront{inst: f, h: &h})
		}
	}
	for a, s := range in.socks {
		w, stays := want[a]
		switch {
		case !stays:
			in.remove(a, s)
		case w.draining != s.draining:
			in.setDraining(s, w)
		}
	}
	close(in.changed)
	in.changed = make(chan struct{})
	return nil
}

func (in *Inbound) bind(a netip.AddrPort) (*inboundServer, error) {
	ln, err := net.Listen("tcp", a.String())
	if err != nil {
		return nil, err
	}
	n := in.served[a]
	if n == nil {
		n = &atomic.Int64{}
		in.served[a] = n
	}
	s := &inboundServer{ln: tls.NewListener(ln, in.tls)}
	s.srv = &http.Server{Handler: in.serveOn(s, n), ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: stdlog.New(in.log, "", 0)} // scanners' half-open handshakes go to the sidecar's log
	go func() {
		err := s.srv.Serve(s.ln)
		if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			in.log.Error().Err(err).Str("socket", a.String()).Msg("sidecar: serve")
		}
	}()
	return s, nil
}

// serveOn counts a socket's requests and runs each through the socket's
// filter instance (from LDS) or, without one, the Sidecar's Host.
func (in *Inbound) serveOn(s *inboundServer, n *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		for {
			f := s.front.Load()
			if f == nil {
				in.handler.ServeHTTP(w, r)
				return
			}
			if f.inst.acquire() {
				defer f.inst.release()
				f.h.ServeHTTP(w, r)
				return
			}
			if s.front.Load() == f { // retired with its socket, which drains
				http.Error(w, "sidecar: listener closed", http.StatusServiceUnavailable)
				return
			}
		}
	})
}

// Served is how many requests each socket (address:port) took, closed
// ones included.
func (in *Inbound) Served() map[string]int64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := map[string]int64{}
	for a, n := range in.served {
		out[a.String()] = n.Load()
	}
	return out
}

// remove stops accepting on a socket at once (before the ACK: a scanner
// that remembered it finds it closed) and lets its open connections finish
// for the drain time; the caller holds in.mu.
func (in *Inbound) remove(a netip.AddrPort, s *inboundServer) {
	delete(in.socks, a)
	delete(in.opened, a)
	s.ln.Close()
	if s.timer != nil {
		s.timer.Stop()
	}
	in.closing.Add(1)
	go func() {
		defer in.closing.Done()
		ctx, cancel := context.WithTimeout(context.Background(), in.drainTime)
		defer cancel()
		_ = s.srv.Shutdown(ctx)
		s.srv.Close()
	}()
}

// setDraining marks a socket draining (or serving again). A draining socket
// still accepts, as Envoy's listener does while it is in LDS (callers that
// have not heard of the move yet still come), but keeps no connection
// longer than its drain period: then keep-alives end, so callers that keep
// connections open come back through the new endpoints.
func (in *Inbound) setDraining(s *inboundServer, w inboundSocket) {
	s.draining = w.draining
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.srv.SetKeepAlivesEnabled(true)
	if w.draining && w.drainAfter > 0 {
		s.timer = time.AfterFunc(w.drainAfter, func() { s.srv.SetKeepAlivesEnabled(false) })
	}
}

// Sockets are the open sockets (address:port) and whether each drains.
func (in *Inbound) Sockets() map[string]bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := map[string]bool{}
	for a, s := range in.socks {
		out[a.String()] = s.draining
	}
	return out
}

// Changed is closed at the next applied change of the sockets.
func (in *Inbound) Changed() <-chan struct{} {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.changed
}

// OpenedAt is when the socket addr (address:port) was opened, if it is open.
func (in *Inbound) OpenedAt(addr string) (time.Time, bool) {
	a, err := netip.ParseAddrPort(addr)
	if err != nil {
		return time.Time{}, false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	t, ok := in.opened[a]
	return t, ok
}

// Close stops every socket and every connection at once.
func (in *Inbound) Close() {
	in.mu.Lock()
	in.closed = true
	for a, s := range in.socks {
		delete(in.socks, a)
		if s.timer != nil {
			s.timer.Stop()
		}
		s.srv.Close()
	}
	in.mu.Unlock()
	in.closing.Wait()
}

func sortedSockets(m map[netip.AddrPort]inboundSocket) []netip.AddrPort {
	return slices.SortedFunc(maps.Keys(m), func(a, b netip.AddrPort) int { return a.Compare(b) })
}

func subscription(typ string, names []string) map[string][]string {
	if len(names) == 0 {
		return nil // an empty SotW request would be a wildcard
	}
	return map[string][]string{typ: names}
}

// routeNames are the route configurations the listeners take by RDS.
func routeNames(res []*anypb.Any) ([]string, error) {
	seen := map[string]bool{}
	for i, a := range res {
		l, err := listenerOf(a)
		if err != nil {
			return nil, fmt.Errorf("listener %d: %w", i, err)
		}
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				var hcm hcmv3.HttpConnectionManager
				if tc := f.GetTypedConfig(); tc != nil && tc.MessageIs(&hcm) {
					if err := tc.UnmarshalTo(&hcm); err != nil {
						return nil, fmt.Errorf("listener %d %q: filter %q: %w", i, l.GetName(), f.GetName(), err)
					}
					if n := hcm.GetRds().GetRouteConfigName(); n != "" {
						seen[n] = true
					}
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

// edsNames are the names of the clusters whose endpoints come by EDS.
func edsNames(res []*anypb.Any) ([]string, error) {
	var out []string
	for i, a := range res {
		var c clusterv3.Cluster
		if err := unmarshalAs(a, resource.ClusterType, &c); err != nil {
			return nil, fmt.Errorf("cluster %d: %w", i, err)
		}
		if c.GetType() != clusterv3.Cluster_EDS {
			continue
		}
		name := c.GetEdsClusterConfig().GetServiceName()
		if name == "" {
			name = c.GetName()
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// allOf checks that every resource is of typ and parses.
func allOf(res []*anypb.Any, typ string, fresh func() proto.Message) error {
	for i, a := range res {
		if err := unmarshalAs(a, typ, fresh()); err != nil {
			return fmt.Errorf("resource %d: %w", i, err)
		}
	}
	return nil
}

func unmarshalAs(a *anypb.Any, typ string, m proto.Message) error {
	if a.GetTypeUrl() != typ {
		return fmt.Errorf("type %q, want %s", a.GetTypeUrl(), typ)
	}
	return a.UnmarshalTo(m)
}
