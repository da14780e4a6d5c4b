// Package system starts the whole meshward system on loopback, as the
// end-to-end test and `make demo` use it: the authorizer, the orders service
// behind an mTLS sidecar that runs the built filter, and (as root) the eBPF
// agent watching the frontend's cgroup.
package system

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/grpc/credentials"

	"github.com/meshward/meshward/api/check"
	verdictv1 "github.com/meshward/meshward/api/verdict/v1"
	"github.com/meshward/meshward/e2e/proxywasm"
	"github.com/meshward/meshward/e2e/sidecar"
	"github.com/meshward/meshward/ebpf-agent/agent"
	"github.com/meshward/meshward/ebpf-agent/cgroups"
	"github.com/meshward/meshward/ebpf-agent/collector"
	"github.com/meshward/meshward/ebpf-agent/isolate"
	"github.com/meshward/meshward/ebpf-agent/profile"
	"github.com/meshward/meshward/ebpf-agent/verdict"
	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/extauthz/server"
	"github.com/meshward/meshward/extauthz/workloads"
	"github.com/meshward/meshward/internal/identity"
)

// The workloads of the system.
var (
	Frontend = identity.SPIFFE("shop", "frontend")
	Catalog  = identity.SPIFFE("shop", "catalog")
	Orders   = identity.SPIFFE("shop", "orders")
	// The control components' own identities.
	Authorizer = identity.SPIFFE("meshward-system", "extauthz")
	Agent      = identity.SPIFFE("meshward-system", "ebpf-agent")
)

// Policy lets the frontend read orders; meshward denies everything else
// (no other ALLOW policy selects any workload).
const Policy = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: frontend-reads-orders
  namespace: shop
spec:
  selector:
    matchLabels: {app: orders}
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/shop/sa/frontend"]
    to:
    - operation:
        methods: ["GET"]
        paths: ["/orders", "/orders/*"]
`

// Workloads binds each workload's identity to its labels and services.
const Workloads = `
workloads:
- {identity: "spiffe://cluster.local/ns/shop/sa/orders", labels: {app: orders}, services: [orders]}
- {identity: "spiffe://cluster.local/ns/shop/sa/frontend", labels: {app: frontend}, services: [frontend]}
- {identity: "spiffe://cluster.local/ns/shop/sa/catalog", labels: {app: catalog}, services: [catalog]}
`

// Options say where the built artifacts are.
type Options struct {
	WasmPath string
	CacheDir string // wazero's compilation cache
	Log      zerolog.Logger
	Agent    agent.Options // the eBPF agent's profile and alarm settings
}

// System is a running meshward on loopback.
type System struct {
	CA       *identity.CA
	Authz    *server.Running
	Host     *proxywasm.Host
	Sidecar  *sidecar.Server
	upstream *http.Server
	token    string
	agent    *agentRun
	opts     Options
	log      zerolog.Logger
}

// Start brings up the authorizer, the orders service and its sidecar.
func Start(ctx context.Context, o Options) (*System, error) {
	s := &System{log: o.Log, opts: o, token: randomToken()}
	var err error
	if s.CA, err = identity.NewCA(); err != nil {
		return nil, err
	}
	set, err := policy.Parse("system-policy.yaml", []byte(Policy))
	if err != nil {
		return nil, err
	}
	authzCert, err := s.CA.Issue(Authorizer)
	if err != nil {
		return nil, err
	}
	reg, err := workloads.Parse("system-workloads.yaml", []byte(Workloads))
	if err != nil {
		return nil, err
	}
	// Both ports take only the mesh CA's client certificates, as in a cluster,
	// and each sidecar may describe its workload only as the registry does.
	s.Authz, err = server.Start(server.Config{Policy: set, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		GRPCTLS: s.CA.ServerTLS(authzCert), HTTPTLS: s.CA.ServerTLS(authzCert), Workloads: reg,
		VerdictToken: []byte(s.token), Log: o.Log.With().Str("component", "extauthz").Logger()})
	if err != nil {
		return nil, err
	}
	if err := s.startOrders(ctx, o); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *System) startOrders(ctx context.Context, o Options) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.upstream = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "orders: %s %s ok, allowed by rule %s\n", r.Method, r.URL.Path, r.Header.Get("x-meshward-rule"))
	})}
	go func() { _ = s.upstream.Serve(ln) }()
	cfg := fmt.Sprintf(`{"authorizer_cluster":"meshward-authz","destination":%q,"destination_labels":{"app":"orders"},"timeout_ms":1000}`, Orders)
	cert, err := s.CA.Issue(Orders)
	if err != nil {
		return err
	}
	// The sidecar reaches the authorizer with orders' own certificate: the
	// authorizer answers it only about requests to orders.
	s.Host, err = proxywasm.New(ctx, proxywasm.Config{
		WasmPath: o.WasmPath, PluginConfig: []byte(cfg), CacheDir: o.CacheDir,
		Clusters:   map[string]string{"meshward-authz": "https://" + s.Authz.HTTPAddr.String()},
		ClusterTLS: s.CA.ClientTLS(cert),
		Log:        o.Log.With().Str("component", "filter").Logger(),
	})
	if err != nil {
		return err
	}
	s.Sidecar, err = sidecar.Listen("127.0.0.1:0", s.CA.ServerTLS(cert), &sidecar.Sidecar{
		Host: s.Host, Upstream: "http://" + ln.Addr().String(), Log: o.Log.With().Str("component", "sidecar").Logger(),
	})
	return err
}

// Result is what a caller got.
type Result struct {
	Status int
	Reason string // x-meshward-reason
	Body   string
}

// Call makes one mTLS request to orders as the workload `from`.
func (s *System) Call(ctx context.Context, from, method, path string) (Result, error) {
	cert, err := s.CA.Issue(from)
	if err != nil {
		return Result{}, err
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: s.CA.ClientTLS(cert)}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, method, "https://"+s.Sidecar.Addr.String()+path, nil)
	if err != nil {
		return Result{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return Result{}, err
	}
	defer resp.Body.Close()
	body := make([]byte, 512)
	n, _ := resp.Body.Read(body)
	return Result{Status: resp.StatusCode, Reason: resp.Header.Get("x-meshward-reason"), Body: string(body[:n])}, nil
}

type agentRun struct {
	col    *collector.Collector
	iso    *isolate.Isolator
	vc     *verdict.Client
	cgroup string
	cancel context.CancelFunc
	done   chan error
}

// ErrNeedsRoot says that the eBPF part cannot run in this process.
var ErrNeedsRoot = errors.New("the eBPF agent needs root (to load eBPF programs and make cgroups)")

// StartAgent makes a cgroup for the frontend's container and runs the eBPF
// agent on it, reporting to the authorizer over gRPC.
func (s *System) StartAgent(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return ErrNeedsRoot
	}
	dir, _, err := cgroups.Create(fmt.Sprintf("meshward-demo-frontend-%d", os.Getpid()))
	if err != nil {
		return err
	}
	w, err := agent.ParseWorkload(Frontend + "=" + dir)
	if err != nil {
		return err
	}
	a := &agentRun{cgroup: dir, done: make(chan error, 1)}
	window := s.opts.Agent.Profile.Window
	if window == 0 {
		window = profile.DefaultConfig().Window
	}
	if a.col, err = collector.Open(collector.Options{Window: window}); err != nil {
		cgroups.Remove(dir)
		return err
	}
	creds, err := s.creds(Agent)
	if err != nil {
		a.col.Close()
		cgroups.Remove(dir)
		return err
	}
	if a.vc, err = verdict.Dial(s.Authz.GRPCAddr.String(), s.token, "local", creds); err != nil {
		a.col.Close()
		cgroups.Remove(dir)
		return err
	}
	opts := s.opts.Agent
	// Kernel isolation too: a flagged frontend may still reach the authorizer.
	if a.iso, err = isolate.Open(); err != nil {
		a.stop()
		return err
	}
	authz := netip.MustParseAddrPort(s.Authz.GRPCAddr.String())
	if err := a.iso.Allow(authz.Addr(), authz.Port()); err != nil {
		a.stop()
		return err
	}
	opts.Isolator = a.iso
	ag, err := agent.New(a.col, []agent.Workload{w}, a.vc, prometheus.NewRegistry(), s.log.With().Str("component", "ebpf-agent").Logger(), opts)
	if err != nil {
		a.stop()
		return err
	}
	var runCtx context.Context
	runCtx, a.cancel = context.WithCancel(ctx)
	go func() { a.done <- ag.Run(runCtx) }()
	s.agent = a
	return nil
}

func (a *agentRun) stop() {
	if a.cancel != nil {
		a.cancel()
		<-a.done
	}
	if a.iso != nil {
		a.iso.Close()
	}
	a.vc.Close()
	a.col.Close()
	cgroups.Remove(a.cgroup)
}

// DialFromFrontend opens a TCP connection to addr from inside the frontend's
// container (bash's /dev/tcp) and says whether it was accepted.
func (s *System) DialFromFrontend(addr string) (bool, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return false, err
	}
	err = s.RunInFrontend("/bin/bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/%d", ap.Addr(), ap.Port()))
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return false, nil
	}
	return err == nil, err
}

// RunInFrontend runs a command inside the frontend's container (its cgroup),
// from its first instruction, and waits for it.
func (s *System) RunInFrontend(argv ...string) error { return s.RunInFrontendEnv(nil, argv...) }

// RunInFrontendEnv is RunInFrontend with variables added to the environment.
func (s *System) RunInFrontendEnv(env []string, argv ...string) error {
	if s.agent == nil {
		return errors.New("the agent is not running")
	}
	dir, err := cgroups.Open(s.agent.cgroup)
	if err != nil {
		return err
	}
	defer dir.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	return cmd.Run()
}

// Close stops everything.
func (s *System) Close() {
	if s.agent != nil {
		s.agent.stop()
	}
	if s.Sidecar != nil {
		s.Sidecar.Close()
	}
	if s.Host != nil {
		s.Host.Close(context.Background())
	}
	if s.upstream != nil {
		s.upstream.Close()
	}
	if s.Authz != nil {
		s.Authz.Stop()
	}
}

// ReportVerdict sends a verdict over the authorizer's gRPC verdict API, as
// the eBPF agent (or an operator's tool) does.
func (s *System) ReportVerdict(ctx context.Context, workload, reason string) error {
	creds, err := s.creds(Agent)
	if err != nil {
		return err
	}
	vc, err := verdict.Dial(s.Authz.GRPCAddr.String(), s.token, "e2e", creds)
	if err != nil {
		return err
	}
	defer vc.Close()
	_, err = vc.Report(ctx, &verdictv1.Verdict{Workload: workload, Reason: reason, Score: 1})
	return err
}

// Checks is how many decisions the authorizer has made over the filter's
// HTTP check, read from its /metrics.
func (s *System) Checks() (int, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CA.Pool, MinVersion: tls.VersionTLS13}}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("https://" + s.Authz.HTTPAddr.String() + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "meshward_authz_decisions_total{") && strings.Contains(line, `transport="http"`) {
			f := strings.Fields(line)
			v, _ := strconv.Atoi(f[len(f)-1])
			n += v
		}
	}
	return n, nil
}

// creds are the gRPC transport credentials of a control component.
func (s *System) creds(id string) (credentials.TransportCredentials, error) {
	cert, err := s.CA.Issue(id)
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(s.CA.ClientTLS(cert)), nil
}

// ForgeCheck posts a check straight to the authorizer's check port with the
// certificate of workload `as`: what a compromised workload that reaches the
// authorizer can try.
func (s *System) ForgeCheck(ctx context.Context, as string, req check.Request) (check.Response, error) {
	cert, err := s.CA.Issue(as)
	if err != nil {
		return check.Response{}, err
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: s.CA.ClientTLS(cert)}}
	defer c.CloseIdleConnections()
	body, err := json.Marshal(req)
	if err != nil {
		return check.Response{}, err
	}
	hr, err := http.NewRequestWithContext(ctx, "POST", "https://"+s.Authz.HTTPAddr.String()+check.Path, bytes.NewReader(body))
	if err != nil {
		return check.Response{}, err
	}
	resp, err := c.Do(hr)
	if err != nil {
		return check.Response{}, err
	}
	defer resp.Body.Close()
	var out check.Response
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return check.Response{}, fmt.Errorf("check answer (HTTP %d): %w", resp.StatusCode, err)
	}
	return out, nil
}
