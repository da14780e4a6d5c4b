package sidecar

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/rs/zerolog"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/anypb"

	xdsserver "github.com/meshward/meshward/xds/server"
)

// Applier takes one state-of-the-world response. An error NACKs it (its
// text goes to the server in error_detail) and must leave the applier as
// it was: a NACKed response changes nothing. Subscriptions it returns
// (type URL -> resource names) are sent after the ACK, as Envoy asks for
// the routes and endpoints its listeners and clusters name.
type Applier func(typeURL string, resources []*anypb.Any) (subscribe map[string][]string, err error)

// ADSConfig is one aggregated xDS stream.
type ADSConfig struct {
	Server string // host:port of the xDS server
	// Servers are where else the xDS server may be (a bootstrap's list:
	// the control plane's address pool), tried in turn when the address in
	// use stops answering; ServerID is the SPIFFE ID it must prove at any of
	// them (every workload holds a mesh certificate: the CA alone would let
	// one that squats an address impersonate the control plane).
	Servers  []string
	ServerID string
	// FollowControlPlane subscribes to the control plane's announcement
	// of its next address (xds/server.AnnounceName) and reconnects there
	// when told, before the old address closes.
	FollowControlPlane bool
	TLS                *tls.Config // the workload's mesh certificate (mutual TLS)
	Node               *corev3.Node
	// Subscribe are the first subscriptions (type URL -> names; none:
	// wildcard), sent in order when a stream opens.
	Subscribe []Subscription
	Apply     Applier
	Log       zerolog.Logger
}

// Subscription is a type URL and the resource names asked for.
type Subscription struct {
	TypeURL string
	Names   []string
}

// ADS follows an xDS server over one SotW ADS stream, opened again with
// backoff whenever it breaks.
type ADS struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Backoff between stream attempts: doubling, reset once a response came.
const (
	firstBackoff = 50 * time.Millisecond
	maxBackoff   = 2 * time.Second
)

// FollowADS starts following the server; Close stops it.
func FollowADS(cfg ADSConfig) (*ADS, error) {
	if cfg.Node.GetId() == "" || cfg.Apply == nil || cfg.TLS == nil {
		return nil, errors.New("ads: a node id, an applier and mutual TLS are required")
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &ADS{cancel: cancel, done: make(chan struct{})}
	st := &adsState{cfg: cfg, versions: map[string]string{}, nonces: map[string]string{}, names: map[string][]string{},
		refused: map[string]string{}, pause: map[string]time.Duration{}, target: cfg.Server}
	st.cfg.TLS = serverVerified(cfg.TLS, cfg.ServerID)
	subs := cfg.Subscribe
	if cfg.FollowControlPlane {
		subs = append(slices.Clone(subs), Subscription{TypeURL: resource.RuntimeType, Names: []string{xdsserver.AnnounceName}})
	}
	for _, s := range subs {
		st.order = append(st.order, s.TypeURL)
		st.names[s.TypeURL] = s.Names
	}
	go func() {
		defer close(a.done)
		st.loop(ctx)
	}()
	return a, nil
}

// Close ends the stream and waits for its goroutine.
func (a *ADS) Close() {
	a.cancel()
	<-a.done
}

// adsState is what outlives one stream: the versions accepted (sent again
// on a new stream, as Envoy does) and the subscriptions.
type adsState struct {
	cfg      ADSConfig
	order    []string
	names    map[string][]string // type URL -> names (nil: wildcard)
	versions map[string]string   // type URL -> last accepted version
	nonces   map[string]string   // type URL -> last nonce on this stream
	// refused are the versions last NACKed and the pause before NACKing
	// them again, by type URL: go-control-plane answers a NACK with the
	// same response at once, and a client that NACKs at once loops until
	// the server's rate guard ends the stream (and with it the server's
	// view of what the sidecar has).
	refused map[string]string
	pause   map[string]time.Duration
	target  string // where the next stream goes
	tried   int    // addresses of the list tried since a stream last got a response
	next    int    // index of the next one in cfg.Servers
}

func (st *adsState) loop(ctx context.Context) {
	wait := firstBackoff
	for ctx.Err() == nil {
		got, err := st.stream(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errMoved) {
			st.cfg.Log.Info().Str("to", st.target).Msg("ads: the control plane moved")
			continue // told where: at once
		}
		if got {
			wait, st.tried = firstBackoff, 0
		} else if st.elsewhere() {
			continue // the list is not exhausted: its next address at once
		}
		st.cfg.Log.Warn().Err(err).Dur("retry_in", wait).Msg("ads stream broke")
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
		wait = min(2*wait, maxBackoff)
	}
}

// stream runs one ADS stream until it breaks; got says a response came.
func (st *adsState) stream(ctx context.Context) (got bool, err error) {
	cc, err := grpc.NewClient(st.target, grpc.WithTransportCredentials(credentials.NewTLS(st.cfg.TLS)))
	if err != nil {
		return false, err
	}
	defer cc.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := discoveryv3.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(sctx)
	if err != nil {
		return false, err
	}
	clear(st.nonces) // nonces belong to one stream
	for _, typ := range st.order {
		if err := st.send(s, typ, nil); err != nil {
			return false, err
		}
	}
	for {
		resp, err := s.Recv()
		if err != nil {
			return got, err
		}
		got = true
		if err := st.take(ctx, s, resp); err != nil {
			return got, err
		}
	}
}

type adsStream = discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient

// take applies a response and ACKs or NACKs it.
func (st *adsState) take(ctx context.Context, s adsStream, resp *discoveryv3.DiscoveryResponse) error {
	typ := resp.GetTypeUrl()
	st.nonces[typ] = resp.GetNonce()
	if typ == resource.RuntimeType && st.cfg.FollowControlPlane {
		return st.announced(s, resp)
	}
	more, err := st.cfg.Apply(typ, resp.GetResources())
	if err != nil {
		return st.refuse(ctx, s, typ, resp.GetVersionInfo(), err)
	}
	delete(st.refused, typ)
	st.versions[typ] = resp.GetVersionInfo()
	if err := st.send(s, typ, nil); err != nil {
		return err
	}
	for _, sub := range ordered(more) {
		if _, known := st.names[sub.TypeURL]; known && sameNames(st.names[sub.TypeURL], sub.Names) {
			continue
		}
		if _, known := st.names[sub.TypeURL]; !known {
			st.order = append(st.order, sub.TypeURL)
		}
		st.names[sub.TypeURL] = sub.Names
		if err := st.send(s, sub.TypeURL, nil); err != nil {
			return err
		}
	}
	return nil
}

// refuse NACKs a response; the same version refused again is NACKed only
// after a pause that doubles each time.
func (st *adsState) refuse(ctx context.Context, s adsStream, typ, version string, err error) error {
	if st.refused[typ] == version {
		select {
		case <-time.After(st.pause[typ]):
		case <-ctx.Done():
			return ctx.Err()
		}
		st.pause[typ] = min(2*st.pause[typ], maxBackoff)
	} else {
		st.cfg.Log.Warn().Str("type", typ).Str("version", version).Err(err).Msg("ads NACK")
		st.refused[typ], st.pause[typ] = version, firstBackoff
	}
	return st.send(s, typ, &status.Status{Code: int32(codes.InvalidArgument), Message: err.Error()})
}

// send asks for typ with the last accepted version and the last nonce:
// an ACK, or with detail a NACK.
func (st *adsState) send(s adsStream, typ string, detail *status.Status) error {
	err := s.Send(&discoveryv3.DiscoveryRequest{Node: st.cfg.Node, TypeUrl: typ, ResourceNames: st.names[typ],
		VersionInfo: st.versions[typ], ResponseNonce: st.nonces[typ], ErrorDetail: detail})
	if err != nil {
		return fmt.Errorf("ads: send %s: %w", typ, err)
	}
	return nil
}

// ordered are the subscriptions by type URL, so requests go out in a
// stable order.
func ordered(m map[string][]string) []Subscription {
	var out []Subscription
	for _, typ := range slices.Sorted(maps.Keys(m)) {
		out = append(out, Subscription{TypeURL: typ, Names: m[typ]})
	}
	return out
}

func sameNames(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}
