package server

import (
	"context"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/snapshot"
)

type edsClient struct {
	node string
	s    discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	last *discoveryv3.DiscoveryResponse
}

// subscribe opens a stream as node and takes orders' endpoints once.
func subscribe(t *testing.T, r *Running, node string) *edsClient {
	t.Helper()
	s, err := ads(t, r.ADSAddr().String(), insecure.NewCredentials())
	if err != nil {
		t.Fatal(err)
	}
	c := &edsClient{s: s, node: node}
	c.send(t, nil)
	c.recv(t)
	c.send(t, nil) // the ACK
	return c
}

func (c *edsClient) send(t *testing.T, nack *status.Status) {
	t.Helper()
	req := &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: c.node}, TypeUrl: resource.EndpointType,
		ResourceNames: []string{snapshot.ClusterName("orders")}, ErrorDetail: nack}
	if c.last != nil {
		req.ResponseNonce, req.VersionInfo = c.last.GetNonce(), c.last.GetVersionInfo()
	}
	if err := c.s.Send(req); err != nil {
		t.Fatal(err)
	}
}

func (c *edsClient) recv(t *testing.T) {
	t.Helper()
	resp, err := c.s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	c.last = resp
}

// ackAll acknowledges every response until the stream ends.
func (c *edsClient) ackAll(t *testing.T) {
	go func() {
		for {
			resp, err := c.s.Recv()
			if err != nil {
				return
			}
			c.last = resp
			req := &discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNames: []string{snapshot.ClusterName("orders")},
				ResponseNonce: resp.GetNonce(), VersionInfo: resp.GetVersionInfo()}
			if c.s.Send(req) != nil {
				return
			}
		}
	}()
}

// A move returns once every client that uses the service acknowledged the
// new endpoints; the old sockets are served until then and for the grace
// period after.
func TestMoveWaitsForEveryClient(t *testing.T) {
	r := start(t, twoServices, Config{Admin: AdminAuth{Token: testToken},
		Defaults: catalog.Schedule{Grace: time.Millisecond, AckTimeout: time.Minute, HardDeadline: time.Minute}})
	clients := []*edsClient{subscribe(t, r, "a"), subscribe(t, r, "b"), subscribe(t, r, "c")}
	waitFor(t, func() bool { return r.acks.watchers(resource.EndpointType, snapshot.ClusterName("orders")) == 3 })
	for _, c := range clients {
		c.ackAll(t)
	}
	if _, err := r.Move(context.Background(), "orders", 3000, "admin"); err != nil {
		t.Fatal(err)
	}
	svc, _ := r.cfg.Catalog.Lookup("orders")
	r.acks.mu.Lock()
	behind := r.acks.pending(waitSet{typ: resource.EndpointType, names: clusterNames(svc)})
	r.acks.mu.Unlock()
	if len(behind) != 0 {
		t.Fatalf("Move returned with %v behind", behind)
	}
	if n := testutil.CollectAndCount(r.metrics.convergence); n != 1 || testutil.ToFloat64(r.metrics.laggards.WithLabelValues("orders")) != 0 {
		t.Fatalf("convergence observed %d times, laggards %v", n, testutil.ToFloat64(r.metrics.laggards.WithLabelValues("orders")))
	}
	waitFor(t, func() bool { return len(r.Current().Serving("orders")) == 1 })
}

// A client that never acknowledges is reported after the acknowledgement
// timeout, and the old socket stays served for it until the hard deadline.
// A NACK is counted; the node keeps its last good configuration.
func TestMoveReportsLaggardsAndNacks(t *testing.T) {
	r := start(t, twoServices, Config{Admin: AdminAuth{Token: testToken},
		Defaults: catalog.Schedule{Grace: time.Millisecond, AckTimeout: 50 * time.Millisecond, HardDeadline: 400 * time.Millisecond}})
	good, mute := subscribe(t, r, "good"), subscribe(t, r, "mute")
	waitFor(t, func() bool { return r.acks.watchers(resource.EndpointType, snapshot.ClusterName("orders")) == 2 })
	good.ackAll(t)
	start := time.Now()
	if _, err := r.Move(context.Background(), "orders", 2000, "admin"); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 50*time.Millisecond || testutil.ToFloat64(r.metrics.laggards.WithLabelValues("orders")) != 1 {
		t.Fatalf("returned after %v with %v laggards; want the timeout and one", time.Since(start), testutil.ToFloat64(r.metrics.laggards.WithLabelValues("orders")))
	}
	if got := r.Current().Serving("orders"); len(got) != 2 || got[1].Port != 1000 {
		t.Fatalf("right after the move: serving %v, want the new socket and the old one", got)
	}
	mute.recv(t)
	mute.send(t, &status.Status{Code: 3, Message: "cannot apply"})
	waitFor(t, func() bool {
		return testutil.ToFloat64(r.metrics.acks.WithLabelValues(resource.EndpointType, "nack")) == 1
	})
	waitFor(t, func() bool { return len(r.Current().Serving("orders")) == 1 })
	if time.Since(start) < 400*time.Millisecond {
		t.Fatalf("the old socket closed after %v, before the hard deadline", time.Since(start))
	}
}
