package system

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	verdictv1 "github.com/meshward/meshward/api/verdict/v1"
	"github.com/meshward/meshward/extauthz/policy"
	authz "github.com/meshward/meshward/extauthz/server"
	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/reach"
	xdsserver "github.com/meshward/meshward/xds/server"
	"github.com/meshward/meshward/xds/snapshot"
)

// Events is an authorizer that reports its security events to an xDS
// server, both in this process on loopback and both over mutual TLS with
// one mesh CA: the xDS admin API admits the authorizer's identity only,
// and the xDS server's need-to-know comes from the authorizer's policies.
type Events struct {
	CA      *identity.CA
	Authz   *authz.Running
	XDS     *xdsserver.Running
	AuthzID string
	// OperatorID may use the whole admin API; the authorizer only reports.
	OperatorID string
	token      string // the verdict API's
}

// eventsAuthzID is the authorizer's identity in an Events run.
var eventsAuthzID = identity.SPIFFE("meshward-system", "meshward-authz")

// eventsOperatorID is the operator's.
var eventsOperatorID = identity.SPIFFE("meshward-system", "operator")

// StartEvents starts both servers with a catalog and policies (YAML).
func StartEvents(catalogYAML, policyYAML string, sched catalog.Schedule) (*Events, error) {
	ca, err := identity.NewCA()
	if err != nil {
		return nil, err
	}
	cat, err := catalog.Parse("catalog.yaml", []byte(catalogYAML))
	if err != nil {
		return nil, err
	}
	set, err := policy.Parse("policies.yaml", []byte(policyYAML))
	if err != nil {
		return nil, err
	}
	xdsCert, err1 := ca.Issue(identity.SPIFFE("meshward-system", "meshward-xds"))
	authzCert, err2 := ca.Issue(eventsAuthzID)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	x, err := xdsserver.Start(context.Background(), xdsserver.Config{Catalog: cat, Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		TLS: ca.ServerTLS(xdsCert), Admin: xdsserver.AdminAuth{TLS: ca.ServerTLS(xdsCert), EventIDs: []string{eventsAuthzID}, AllowIDs: []string{eventsOperatorID}},
		Defaults: sched, Reach: reach.New(set), Log: zerolog.Nop()})
	if err != nil {
		return nil, err
	}
	e := &Events{CA: ca, XDS: x, AuthzID: eventsAuthzID, OperatorID: eventsOperatorID, token: "verdict-token-0123456789abcdef"}
	e.Authz, err = authz.Start(authz.Config{Policy: set, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		GRPCTLS: ca.ServerTLS(authzCert), HTTPTLS: ca.ServerTLS(authzCert), VerdictToken: []byte(e.token), Log: zerolog.Nop(),
		XDSEvents: &authz.XDSEventsConfig{URL: "https://" + x.AdminAddr.String(), TLS: ca.ClientTLS(authzCert)}})
	if err != nil {
		x.Stop()
		return nil, err
	}
	return e, nil
}

// Stop stops both.
func (e *Events) Stop() {
	e.Authz.Stop()
	e.XDS.Stop()
}

// TLS is a client configuration with a mesh certificate for id.
func (e *Events) TLS(id string) (*tls.Config, error) {
	cert, err := e.CA.Issue(id)
	if err != nil {
		return nil, err
	}
	return e.CA.ClientTLS(cert), nil
}

// Quarantine reports a verdict as the eBPF agent does (its own mesh
// certificate and the verdict token); release lifts it as an operator.
func (e *Events) Quarantine(ctx context.Context, workload string, release bool) error {
	cfg, err := e.TLS(identity.SPIFFE("meshward-system", "ebpf-agent"))
	if err != nil {
		return err
	}
	cc, err := grpc.NewClient(e.Authz.GRPCAddr.String(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		return err
	}
	defer cc.Close()
	c := verdictv1.NewVerdictsClient(cc)
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+e.token)
	if release {
		_, err = c.Release(ctx, &verdictv1.ReleaseRequest{Workload: workload})
	} else {
		_, err = c.Report(ctx, &verdictv1.Verdict{Workload: workload, Reason: "syscall-anomaly", Score: 0.9})
	}
	return err
}

// Admin calls the xDS admin API with a mesh certificate for id, and
// returns the status and the answer (at most 1 MiB).
func (e *Events) Admin(id, method, path, body string) (int, string, error) {
	cfg, err := e.TLS(id)
	if err != nil {
		return 0, "", err
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()
	req, err := http.NewRequest(method, "https://"+e.XDS.AdminAddr.String()+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

// EDSWatch is a proxyless client of one service's endpoints over ADS
// (what grpc-go's xDS client asks for), with a mesh certificate; it
// acknowledges every answer and passes on the port it was told.
type EDSWatch struct {
	Ports  chan uint32 // closed when the stream ends
	s      discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	cc     *grpc.ClientConn
	req    *discoveryv3.DiscoveryRequest
	cancel context.CancelFunc
	nonce  chan string // the last answer's, for Reask
}

// WatchEndpoints opens a stream as node, with id's certificate.
func (e *Events) WatchEndpoints(id, node, service string) (*EDSWatch, error) {
	cfg, err := e.TLS(id)
	if err != nil {
		return nil, err
	}
	cc, err := grpc.NewClient(e.XDS.Addr.String(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := discoveryv3.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(ctx)
	if err != nil {
		cancel()
		cc.Close()
		return nil, err
	}
	w := &EDSWatch{Ports: make(chan uint32, 16), s: s, cc: cc, cancel: cancel, nonce: make(chan string, 1),
		req: &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: node}, TypeUrl: resource.EndpointType,
			ResourceNames: []string{snapshot.ClusterName(service)}}}
	if err := s.Send(w.req); err != nil {
		w.Close()
		return nil, err
	}
	go w.follow()
	return w, nil
}

func (w *EDSWatch) follow() {
	defer close(w.Ports)
	for {
		resp, err := w.s.Recv()
		if err != nil {
			return
		}
		port, err := portOf(resp)
		if err != nil {
			return
		}
		select { // keep only the latest nonce
		case <-w.nonce:
		default:
		}
		w.nonce <- resp.GetNonce()
		w.Ports <- port
		ack := &discoveryv3.DiscoveryRequest{Node: w.req.Node, TypeUrl: w.req.TypeUrl, ResourceNames: w.req.ResourceNames,
			VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}
		if w.s.Send(ack) != nil {
			return
		}
	}
}

// Reask asks again as if it held no version: the server answers at once
// with what it holds for the node, after anything it sent before on the
// stream. Call it once the last port was taken from Ports.
func (w *EDSWatch) Reask() error {
	nonce := <-w.nonce
	w.nonce <- nonce
	return w.s.Send(&discoveryv3.DiscoveryRequest{Node: w.req.Node, TypeUrl: w.req.TypeUrl, ResourceNames: w.req.ResourceNames,
		VersionInfo: "none", ResponseNonce: nonce})
}

// Close ends the stream.
func (w *EDSWatch) Close() {
	w.cancel()
	w.cc.Close()
}

func portOf(resp *discoveryv3.DiscoveryResponse) (uint32, error) {
	if len(resp.GetResources()) != 1 {
		return 0, fmt.Errorf("%d endpoint resources", len(resp.GetResources()))
	}
	var cla endpointv3.ClusterLoadAssignment
	if err := resp.GetResources()[0].UnmarshalTo(&cla); err != nil {
		return 0, err
	}
	eps := cla.GetEndpoints()
	if len(eps) == 0 || len(eps[0].GetLbEndpoints()) == 0 {
		return 0, errors.New("no endpoint")
	}
	return eps[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress().GetPortValue(), nil
}
