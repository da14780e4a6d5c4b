package system

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	eaasv1 "github.com/meshward/meshward/api/eaas/v1"
	"github.com/meshward/meshward/e2e/proxywasm"
	"github.com/meshward/meshward/e2e/sidecar"
	"github.com/meshward/meshward/extauthz/eaas/keymanager"
	"github.com/meshward/meshward/extauthz/eaas/roles"
	"github.com/meshward/meshward/extauthz/eaas/rpc"
	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/extauthz/server"
	"github.com/meshward/meshward/extauthz/workloads"
	"github.com/meshward/meshward/internal/identity"
)

// EaaSPolicy lets the frontend write orders and makes its bodies to orders
// an EaaS obligation.
const EaaSPolicy = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: frontend-writes-orders, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/shop/sa/frontend", "cluster.local/ns/shop/sa/catalog"]}}]
    to: [{operation: {methods: ["GET", "POST"], paths: ["/orders", "/orders/*"]}}]
---
apiVersion: meshward.io/v1alpha1
kind: MeshwardPolicy
metadata: {name: shop, namespace: shop}
spec:
  encrypt:
  - sources: ["cluster.local/ns/shop/sa/frontend"]
`

// EaaSOptions shape the EaaS mesh.
type EaaSOptions struct {
	Options
	Deception uint32 // token bits t: 2^t - 1 fakes per real message
	Cipher    string // default aes256-gcm
	// Direct is the same path without encryption (the benchmark's
	// baseline): both sidecars run the filter, but orders is no member of
	// the frontend's subscriber and its policy asks for no encryption.
	Direct bool
	// StopIteration runs the sidecars as Envoy with the filter's
	// allow_on_headers_stop_iteration (Envoy 1.35+): nothing of a request
	// reaches the app before its body is decrypted. Off: Envoy's default.
	StopIteration bool
	// Dir holds the key-encryption key and the key store (required).
	Dir string
	// MaxBodyBytes is both filters' eaas.max_body_bytes (0: the default).
	MaxBodyBytes int64
}

// EaaSMesh is two hops with Encryption as a Service: the frontend app sends
// plain HTTP to its outbound sidecar, which has the body encrypted and sends
// it over mTLS to orders' inbound sidecar, which has it decrypted for the
// orders app. A wire tap between the sidecars records what they exchange.
type EaaSMesh struct {
	CA           *System
	Authz        *server.Running
	Roles        *roles.Running
	Registration *eaasv1.RegisterResponse
	outHost      *proxywasm.Host
	inHost       *proxywasm.Host
	out, in      *sidecar.Server
	tap          *wireTap
	app          *http.Server
	mu           sync.Mutex
	appSaw       []byte
	appGot       map[string][2]int      // per path: requests, body bytes
	appHeaders   map[string][][2]string // per path: headers the orders app answers with
	calloutMu    sync.Mutex             // one exchange at a time: a Session is not shared
	callouts     map[string]*calloutPeer
}

// StartEaaS brings the EaaS mesh up: the authorizer with all four roles, a
// subscriber registered over gRPC, and both sidecars running the built filter.
func StartEaaS(ctx context.Context, o EaaSOptions) (*EaaSMesh, error) {
	s := &System{log: o.Log, opts: o.Options, token: randomToken()}
	m := &EaaSMesh{CA: s}
	var err error
	if o.Dir == "" {
		return nil, fmt.Errorf("eaas mesh: a directory for the keys is required")
	}
	if s.CA, err = identity.NewCA(); err != nil {
		return nil, err
	}
	if err := m.startAuthz(o); err != nil {
		m.Close()
		return nil, err
	}
	if err := m.register(ctx, o); err != nil {
		m.Close()
		return nil, err
	}
	if err := m.startOrders(ctx, o); err != nil {
		m.Close()
		return nil, err
	}
	if err := m.startFrontend(ctx, o); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func (m *EaaSMesh) startAuthz(o EaaSOptions) error {
	s := m.CA
	text := EaaSPolicy
	if o.Direct {
		text = text[:strings.Index(text, "---")] // no encrypt obligation
	}
	set, err := policy.Parse("eaas-policy.yaml", []byte(text))
	if err != nil {
		return err
	}
	reg, err := workloads.Parse("system-workloads.yaml", []byte(Workloads))
	if err != nil {
		return err
	}
	cert, err := s.CA.Issue(Authorizer)
	if err != nil {
		return err
	}
	kekPath := filepath.Join(o.Dir, "kek.json")
	if err := keymanager.GenerateKEKFile(kekPath); err != nil {
		return err
	}
	metrics := prometheus.NewRegistry()
	log := o.Log.With().Str("component", "extauthz").Logger()
	m.Roles, err = roles.Start(roles.Config{Name: "eaas-0", Addr: "127.0.0.1:0", ServerTLS: s.CA.ServerTLS(cert),
		ClientTLS: s.CA.ClientTLS(cert), StorePath: filepath.Join(o.Dir, "keys.db"), KEKFile: kekPath,
		Access:   rpc.Access{Coordinators: []string{Authorizer}, Registrars: []string{Authorizer}, OperatorToken: []byte(s.token)},
		Registry: metrics, Log: log})
	if err != nil {
		return err
	}
	m.Authz, err = server.Start(server.Config{Policy: set, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		GRPCTLS: s.CA.ServerTLS(cert), HTTPTLS: s.CA.ServerTLS(cert), Workloads: reg, VerdictToken: []byte(s.token),
		Mount: m.Roles.Mount, Registry: metrics, Log: log})
	s.Authz = m.Authz
	return err
}

// register makes the frontend and orders members of subscriber 54 through
// the registrar's gRPC API, as `extauthz eaas register` does.
func (m *EaaSMesh) register(ctx context.Context, o EaaSOptions) error {
	cc, err := grpc.NewClient(m.Roles.Addr.String(), grpc.WithTransportCredentials(credentials.NewTLS(
		&tls.Config{RootCAs: m.CA.CA.Pool, MinVersion: tls.VersionTLS13})))
	if err != nil {
		return err
	}
	defer cc.Close()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+m.CA.token)
	peer := &eaasv1.Member{Principal: "cluster.local/ns/shop/sa/orders", Hosts: []string{"orders"}}
	if o.Direct { // orders is no member: the frontend's filter sends its bodies as they are
		peer = &eaasv1.Member{Principal: "cluster.local/ns/shop/sa/catalog", Hosts: []string{"catalog"}}
	}
	m.Registration, err = eaasv1.NewRegistrarClient(cc).Register(ctx, &eaasv1.RegisterRequest{
		Subscriber: 54, DeceptionFactor: o.Deception, Cipher: o.Cipher,
		Members: []*eaasv1.Member{{Principal: "cluster.local/ns/shop/sa/frontend", Hosts: []string{"frontend"}}, peer}})
	return err
}

func (m *EaaSMesh) filterHost(ctx context.Context, o EaaSOptions, id string, cfg string) (*proxywasm.Host, error) {
	cert, err := m.CA.CA.Issue(id)
	if err != nil {
		return nil, err
	}
	return proxywasm.New(ctx, proxywasm.Config{WasmPath: o.WasmPath, PluginConfig: []byte(cfg), CacheDir: o.CacheDir,
		AllowOnHeadersStopIteration: o.StopIteration,
		Clusters:                    map[string]string{"meshward-authz": "https://" + m.Authz.HTTPAddr.String()},
		ClusterTLS:                  m.CA.CA.ClientTLS(cert), Log: o.Log.With().Str("component", "filter").Str("workload", id).Logger()})
}

// startOrders runs the orders app, which records what it receives and
// answers with a receipt, behind its inbound sidecar.
func (m *EaaSMesh) startOrders(ctx context.Context, o EaaSOptions) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	m.app = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(m.orders)}
	go func() { _ = m.app.Serve(ln) }()
	cfg := fmt.Sprintf(`{"authorizer_cluster":"meshward-authz","destination_labels":{"app":"orders"},"timeout_ms":2000,`+
		`"eaas":{"enabled":true,"direction":"inbound","timeout_ms":10000,"max_body_bytes":%d}}`, o.MaxBodyBytes)
	if m.inHost, err = m.filterHost(ctx, o, Orders, cfg); err != nil {
		return err
	}
	cert, err := m.CA.CA.Issue(Orders)
	if err != nil {
		return err
	}
	m.in, err = sidecar.Listen("127.0.0.1:0", m.CA.CA.ServerTLS(cert), &sidecar.Sidecar{Host: m.inHost,
		Upstream: "http://" + ln.Addr().String(), Log: o.Log.With().Str("component", "sidecar-orders").Logger()})
	return err
}

func (m *EaaSMesh) orders(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	if m.appGot == nil {
		m.appGot = map[string][2]int{}
	}
	got := m.appGot[r.URL.Path]
	got[0]++
	m.appGot[r.URL.Path] = got
	m.mu.Unlock()
	// A body cut by a refusal still counts, byte for byte.
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	m.mu.Lock()
	m.appSaw = body
	got = m.appGot[r.URL.Path]
	got[1] += len(body)
	m.appGot[r.URL.Path] = got
	for _, h := range m.appHeaders[r.URL.Path] {
		w.Header().Add(h[0], h[1])
	}
	m.mu.Unlock()
	fmt.Fprintf(w, "receipt: orders got %d bytes: %.40q", len(body), body)
}

// startFrontend runs the wire tap in front of orders' sidecar and the
// frontend's outbound sidecar, which sends there.
func (m *EaaSMesh) startFrontend(ctx context.Context, o EaaSOptions) error {
	var err error
	if m.tap, err = newWireTap(m.CA, m.in.Addr.String()); err != nil {
		return err
	}
	cfg := fmt.Sprintf(`{"authorizer_cluster":"meshward-authz","timeout_ms":2000,`+
		`"eaas":{"enabled":true,"direction":"outbound","timeout_ms":10000,"max_body_bytes":%d}}`, o.MaxBodyBytes)
	if m.outHost, err = m.filterHost(ctx, o, Frontend, cfg); err != nil {
		return err
	}
	cert, err := m.CA.CA.Issue(Frontend)
	if err != nil {
		return err
	}
	m.out, err = sidecar.ListenOutbound("127.0.0.1:0", &sidecar.Outbound{Host: m.outHost, Destination: m.tap.addr,
		DestinationID: Orders, TLS: m.CA.CA.ClientTLS(cert), Log: o.Log.With().Str("component", "sidecar-frontend").Logger()})
	return err
}

// Exchange is one request through the mesh and what each party saw.
type Exchange struct {
	Status       int
	Reason       string
	Response     []byte      // what the frontend app got back
	AppSaw       []byte      // what the orders app got
	WireRequest  []byte      // the request body between the sidecars
	WireResponse []byte      // the response body between the sidecars
	WireMark     string      // the request's x-meshward-eaas header on the wire
	Header       http.Header // the response headers the frontend app got
}

// Post sends body from the frontend app to orders, as orders' host.
func (m *EaaSMesh) Post(ctx context.Context, path string, body []byte) (Exchange, error) {
	return m.PostWith(ctx, "orders", path, nil, body)
}

// PostWith sends body from the frontend app with host as its Host and the
// given headers; the frontend's sidecar sends every request to orders.
func (m *EaaSMesh) PostWith(ctx context.Context, host, path string, headers [][2]string, body []byte) (Exchange, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+m.out.Addr.String()+path, bytes.NewReader(body))
	if err != nil {
		return Exchange{}, err
	}
	req.Host = host
	for _, h := range headers {
		req.Header.Add(h[0], h[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Exchange{}, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return Exchange{}, err
	}
	x := Exchange{Status: resp.StatusCode, Reason: resp.Header.Get("x-meshward-reason"), Response: out, Header: resp.Header}
	m.mu.Lock()
	x.AppSaw, m.appSaw = m.appSaw, nil
	m.mu.Unlock()
	x.WireRequest, x.WireResponse, x.WireMark = m.tap.last()
	return x, nil
}

// AppAnswers makes the orders app add headers to its answers on path (a
// malicious or broken app).
func (m *EaaSMesh) AppAnswers(path string, headers [][2]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.appHeaders == nil {
		m.appHeaders = map[string][][2]string{}
	}
	m.appHeaders[path] = headers
}

// TapResponses makes the wire tap send the frontend's sidecar swap(body)
// in place of each response body from orders' sidecar (which it still
// records as it came); nil stops the swapping.
func (m *EaaSMesh) TapResponses(swap func(body []byte) []byte) {
	m.tap.mu.Lock()
	defer m.tap.mu.Unlock()
	m.tap.swap = swap
}

// AppGot is what the orders app received on path so far: requests (their
// headers) and body bytes, cut bodies included.
func (m *EaaSMesh) AppGot(path string) (requests, bodyBytes int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	got := m.appGot[path]
	return got[0], got[1]
}

// InboundAddr is orders' sidecar (mTLS), for a caller that skips the
// frontend's sidecar.
func (m *EaaSMesh) InboundAddr() string { return m.in.Addr.String() }

// Close stops everything.
func (m *EaaSMesh) Close() {
	if m.out != nil {
		_ = m.out.Close()
	}
	if m.tap != nil {
		_ = m.tap.Close()
	}
	if m.in != nil {
		_ = m.in.Close()
	}
	if m.app != nil {
		_ = m.app.Close()
	}
	ctx := context.Background()
	for _, h := range []*proxywasm.Host{m.outHost, m.inHost} {
		if h != nil {
			_ = h.Close(ctx)
		}
	}
	if m.Authz != nil {
		m.Authz.Stop()
	}
	if m.Roles != nil {
		m.Roles.Stop()
	}
}

// wireTap sits on the wire between the two sidecars with both ends'
// certificates (only a test holding the mesh CA can do this) and records
// the bodies that pass: what an attacker inside the tunnel would read.
type wireTap struct {
	addr string
	srv  *http.Server
	mu   sync.Mutex
	req  []byte
	resp []byte
	mark string
	swap func([]byte) []byte
}

func newWireTap(s *System, inbound string) (*wireTap, error) {
	ordersCert, err := s.CA.Issue(Orders)
	if err != nil {
		return nil, err
	}
	frontendCert, err := s.CA.Issue(Frontend)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &wireTap{addr: ln.Addr().String()}
	target := &url.URL{Scheme: "https", Host: inbound}
	proxy := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target); r.Out.Host = r.In.Host },
		Transport: &http.Transport{TLSClientConfig: s.CA.ClientTLS(frontendCert)},
		ModifyResponse: func(resp *http.Response) error {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(b))
			t.mu.Lock()
			t.resp = b
			if t.swap != nil {
				b = t.swap(b)
				resp.Body = io.NopCloser(bytes.NewReader(b))
				resp.ContentLength = int64(len(b))
				resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
			}
			t.mu.Unlock()
			return err
		},
	}
	t.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.ContentLength = int64(len(b))
		t.mu.Lock()
		t.req, t.mark = b, r.Header.Get("x-meshward-eaas")
		t.mu.Unlock()
		proxy.ServeHTTP(w, r)
	})}
	go func() { _ = t.srv.Serve(tls.NewListener(ln, s.CA.ServerTLS(ordersCert))) }()
	return t, nil
}

func (t *wireTap) last() (req, resp []byte, mark string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.req, t.resp, t.mark
}

func (t *wireTap) Close() error { return t.srv.Close() }
