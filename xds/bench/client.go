package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// ErrDeltaNotServed: the server answers delta ADS streams with Unimplemented.
var ErrDeltaNotServed = errors.New("delta (incremental) ADS is not served by this xDS server")

// client is one sidecar's ADS stream, on a gRPC connection of its own as
// each Envoy has. It ACKs every response and never NACKs: a response it
// cannot take ends the run with the reason.
type client struct {
	id    int
	node  *corev3.Node
	subs  []subscription
	delta bool
	tr    *tracker
}

func newClient(id int, service string, delta bool, tr *tracker) *client {
	return &client{id: id, node: &corev3.Node{Id: fmt.Sprintf("bench-sidecar-%d", id), Cluster: service},
		subs: subscriptions(service), delta: delta, tr: tr}
}

// run streams until ctx ends or the stream fails.
func (c *client) run(ctx context.Context, addr string) error {
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer cc.Close()
	ads := discoveryv3.NewAggregatedDiscoveryServiceClient(cc)
	if c.delta {
		return notServed(c.runDelta(ctx, ads))
	}
	return c.runSOTW(ctx, ads)
}

func (c *client) sub(typeURL string) (subscription, error) {
	for _, s := range c.subs {
		if s.typeURL == typeURL {
			return s, nil
		}
	}
	return subscription{}, fmt.Errorf("a response of type %q, which was not subscribed to", typeURL)
}

func (c *client) runSOTW(ctx context.Context, ads discoveryv3.AggregatedDiscoveryServiceClient) error {
	stream, err := ads.StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}
	for i, s := range c.subs {
		req := &discoveryv3.DiscoveryRequest{TypeUrl: s.typeURL, ResourceNames: []string{s.name}}
		if i == 0 {
			req.Node = c.node
		}
		if err := stream.Send(req); err != nil {
			return fmt.Errorf("subscribing to %s: %w", s.typeURL, sendErr(err, stream.Recv))
		}
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		s, key, err := c.checkSOTW(resp)
		if err != nil {
			return fmt.Errorf("response version %q nonce %q: %w", resp.GetVersionInfo(), resp.GetNonce(), err)
		}
		err = stream.Send(&discoveryv3.DiscoveryRequest{TypeUrl: s.typeURL, ResourceNames: []string{s.name},
			VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()})
		if err != nil {
			return fmt.Errorf("ACK of %s version %q: %w", s.typeURL, resp.GetVersionInfo(), sendErr(err, stream.Recv))
		}
		c.tr.ack(c.id, s.bit, key, resp.GetVersionInfo(), time.Now())
	}
}

// checkSOTW: a state-of-the-world response holds exactly the one resource
// subscribed to (none would mean it was deleted).
func (c *client) checkSOTW(resp *discoveryv3.DiscoveryResponse) (subscription, string, error) {
	s, err := c.sub(resp.GetTypeUrl())
	if err != nil {
		return s, "", err
	}
	if n := len(resp.GetResources()); n != 1 {
		return s, "", fmt.Errorf("%s: %d resources, want %q alone", s.typeURL, n, s.name)
	}
	key, err := s.check(resp.GetResources()[0])
	return s, key, err
}

func (c *client) runDelta(ctx context.Context, ads discoveryv3.AggregatedDiscoveryServiceClient) error {
	stream, err := ads.DeltaAggregatedResources(ctx)
	if err != nil {
		return err
	}
	for i, s := range c.subs {
		req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: s.typeURL, ResourceNamesSubscribe: []string{s.name}}
		if i == 0 {
			req.Node = c.node
		}
		if err := stream.Send(req); err != nil {
			return fmt.Errorf("subscribing to %s: %w", s.typeURL, sendErr(err, stream.Recv))
		}
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		s, key, version, err := c.checkDelta(resp)
		if err != nil {
			return fmt.Errorf("delta response nonce %q: %w", resp.GetNonce(), err)
		}
		if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: s.typeURL, ResponseNonce: resp.GetNonce()}); err != nil {
			return fmt.Errorf("ACK of %s version %q: %w", s.typeURL, version, sendErr(err, stream.Recv))
		}
		c.tr.ack(c.id, s.bit, key, version, time.Now())
	}
}

// checkDelta: a delta response to one subscribed name holds that resource
// and removes nothing (a removal would leave the sidecar without it).
func (c *client) checkDelta(resp *discoveryv3.DeltaDiscoveryResponse) (subscription, string, string, error) {
	s, err := c.sub(resp.GetTypeUrl())
	if err != nil {
		return s, "", "", err
	}
	if rm := resp.GetRemovedResources(); len(rm) > 0 {
		return s, "", "", fmt.Errorf("%s: removes %q", s.typeURL, rm)
	}
	if n := len(resp.GetResources()); n != 1 {
		return s, "", "", fmt.Errorf("%s: %d resources, want %q alone", s.typeURL, n, s.name)
	}
	r := resp.GetResources()[0]
	if r.GetName() != s.name {
		return s, "", "", fmt.Errorf("%s: resource named %q, subscribed to %q", s.typeURL, r.GetName(), s.name)
	}
	key, err := s.check(r.GetResource())
	return s, key, r.GetVersion(), err
}

// sendErr: gRPC's Send says only io.EOF when the server ended the stream;
// the status it ended it with comes from Recv.
func sendErr[T any](err error, recv func() (T, error)) error {
	if !errors.Is(err, io.EOF) {
		return err
	}
	for {
		if _, rerr := recv(); rerr != nil {
			return rerr
		}
	}
}

func notServed(err error) error {
	if err != nil && status.Code(err) == codes.Unimplemented {
		return fmt.Errorf("%w (%v)", ErrDeltaNotServed, err)
	}
	return err
}
