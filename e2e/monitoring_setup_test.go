package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"google.golang.org/grpc/credentials"

	"github.com/meshward/meshward/ebpf-agent/agent"
	"github.com/meshward/meshward/ebpf-agent/cgroups"
	"github.com/meshward/meshward/ebpf-agent/collector"
	"github.com/meshward/meshward/ebpf-agent/isolate"
	"github.com/meshward/meshward/ebpf-agent/profile"
	"github.com/meshward/meshward/ebpf-agent/verdict"
	"github.com/meshward/meshward/extauthz/eaas/keymanager"
	"github.com/meshward/meshward/extauthz/eaas/roles"
	"github.com/meshward/meshward/extauthz/eaas/rpc"
	authz "github.com/meshward/meshward/extauthz/server"
	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/xds/catalog"
	xdsserver "github.com/meshward/meshward/xds/server"
)

// monitored is every component on loopback, wired as in a cluster: the
// authorizer (policies from files, EaaS roles with a cryptor replica of
// their own, events to the xDS server), the xDS server, and as root the
// eBPF agent reporting verdicts to the authorizer.
type monitored struct {
	ca        *identity.CA
	authzID   string
	token     string
	policyDir string
	authz     *authz.Running
	roles     *roles.Running
	cryptor   *roles.Running
	xds       *xdsserver.Running
	reg       *prometheus.Registry // the authorizer's
	// scrapes are the /metrics URLs, by component.
	scrapes map[string]string
	agent   *monitoredAgent
}

type monitoredAgent struct {
	cgroup  string
	cancel  context.CancelFunc
	done    chan error
	closers []func()
}

const monitoringToken = "monitoring-token-0123456789abcdef"

func startMonitored(t *testing.T, withAgent bool) *monitored {
	t.Helper()
	ca, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	m := &monitored{ca: ca, authzID: identity.SPIFFE("meshward-system", "meshward-authz"), token: monitoringToken,
		policyDir: t.TempDir(), scrapes: map[string]string{}}
	m.startXDS(t)
	m.startEaaS(t)
	m.startAuthz(t)
	if withAgent {
		m.startAgent(t)
	}
	return m
}

func (m *monitored) startXDS(t *testing.T) {
	cat, err := catalog.Parse("catalog.yaml", []byte(eventsCatalog))
	if err != nil {
		t.Fatal(err)
	}
	// A client that never acknowledges is reported after AckTimeout: the
	// laggards panel and alert need one.
	m.xds, err = xdsserver.Start(context.Background(), xdsserver.Config{Catalog: cat, Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		Admin:    xdsserver.AdminAuth{Token: []byte(m.token)},
		Defaults: catalog.Schedule{Grace: 10 * time.Millisecond, AckTimeout: 300 * time.Millisecond, HardDeadline: time.Second},
		Log:      zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.xds.Stop)
	m.scrapes["xds"] = "http://" + m.xds.AdminAddr.String() + "/metrics"
}

// startEaaS runs the coordinator, registrar and key manager in the
// authorizer's process and the cryptor as a replica of its own, so that
// stopping it leaves the coordinator without one (plaintext forwards).
func (m *monitored) startEaaS(t *testing.T) {
	cert, err := m.ca.Issue(m.authzID)
	if err != nil {
		t.Fatal(err)
	}
	access := rpc.Access{Coordinators: []string{m.authzID}, Registrars: []string{m.authzID}, OperatorToken: []byte(m.token)}
	creg := prometheus.NewRegistry()
	m.cryptor, err = roles.Start(roles.Config{Roles: []string{roles.Cryptor}, Name: "cryptor-0", Addr: "127.0.0.1:0",
		ServerTLS: m.ca.ServerTLS(cert), ClientTLS: m.ca.ClientTLS(cert), Access: access, Registry: creg, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.cryptor.Stop)
	m.scrapes["cryptor"] = serveRegistry(t, creg)
	dir := t.TempDir()
	kek := filepath.Join(dir, "kek.json")
	if err := keymanager.GenerateKEKFile(kek); err != nil {
		t.Fatal(err)
	}
	m.roles, err = roles.Start(roles.Config{Roles: []string{roles.Coordinator, roles.Registrar, roles.KeyManager},
		Addr: "127.0.0.1:0", ServerTLS: m.ca.ServerTLS(cert), ClientTLS: m.ca.ClientTLS(cert),
		StorePath: filepath.Join(dir, "keys.db"), KEKFile: kek, Cryptors: []string{m.cryptor.Addr.String()},
		Access: access, Registry: authzRegistry(m), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.roles.Stop)
}

// authzRegistry is the one registry the authorizer's /metrics serves, its
// EaaS roles' series included, as `extauthz serve --eaas` has it.
func authzRegistry(m *monitored) *prometheus.Registry {
	if m.reg == nil {
		m.reg = prometheus.NewRegistry()
	}
	return m.reg
}

func (m *monitored) startAuthz(t *testing.T) {
	cert, err := m.ca.Issue(m.authzID)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(m.policyDir, "policies.yaml"), []byte(eventsPolicies), 0o644); err != nil {
		t.Fatal(err)
	}
	// One check per caller at a time: the shedding panel and alert need a
	// caller over its bound, and a test can hold one slot open.
	m.authz, err = authz.Start(authz.Config{PolicyPaths: []string{m.policyDir}, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		GRPCTLS: m.ca.ServerTLS(cert), HTTPTLS: m.ca.ServerTLS(cert), VerdictToken: []byte(m.token), Registry: authzRegistry(m),
		Mount: m.roles.Mount, MaxInFlightPerCaller: 1, Log: zerolog.Nop(),
		XDSEvents: &authz.XDSEventsConfig{URL: "http://" + m.xds.AdminAddr.String(), Token: []byte(m.token)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.authz.Stop)
	m.scrapes["authz"] = "https://" + m.authz.HTTPAddr.String() + "/metrics"
}

// startAgent runs the eBPF agent on a cgroup made for the frontend's
// container, isolating it in the kernel and reporting to the authorizer
// over gRPC with its own mesh certificate (and a stale token), and serves
// its registry as `ebpf-agent run --metrics-addr` does.
func (m *monitored) startAgent(t *testing.T) {
	dir, _, err := cgroups.Create(fmt.Sprintf("meshward-monitoring-%d", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	a := &monitoredAgent{cgroup: dir, done: make(chan error, 1)}
	a.closers = append(a.closers, func() { cgroups.Remove(dir) })
	t.Cleanup(a.stop)
	w, err := agent.ParseWorkload(identity.SPIFFE("shop", "frontend") + "=" + dir)
	if err != nil {
		t.Fatal(err)
	}
	col, err := collector.Open(collector.Options{Window: profile.DefaultConfig().Window})
	if err != nil {
		t.Fatal(err)
	}
	a.closers = append(a.closers, func() { col.Close() })
	cert, err := m.ca.Issue(identity.SPIFFE("meshward-system", "ebpf-agent"))
	if err != nil {
		t.Fatal(err)
	}
	// The agent holds a token the authorizer does not (a Secret out of
	// date): its verdicts fail, which is what MeshwardAgentVerdictsFailing
	// watches for; the quarantines here come through the operator's path.
	vc, err := verdict.Dial(m.authz.GRPCAddr.String(), "stale-"+m.token, "monitoring", credentials.NewTLS(m.ca.ClientTLS(cert)))
	if err != nil {
		t.Fatal(err)
	}
	a.closers = append(a.closers, func() { vc.Close() })
	iso, err := isolate.Open()
	if err != nil {
		t.Fatal(err)
	}
	a.closers = append(a.closers, func() { iso.Close() })
	ap := netip.MustParseAddrPort(m.authz.GRPCAddr.String())
	if err := iso.Allow(ap.Addr(), ap.Port()); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	ag, err := agent.New(col, []agent.Workload{w}, vc, reg, zerolog.Nop(), agent.Options{Isolator: iso})
	if err != nil {
		t.Fatal(err)
	}
	var ctx context.Context
	ctx, a.cancel = context.WithCancel(context.Background())
	go func() { a.done <- ag.Run(ctx) }()
	m.agent = a
	m.scrapes["agent"] = serveRegistry(t, reg)
}

// stop ends the agent's loop before what it reads from closes.
func (a *monitoredAgent) stop() {
	if a.cancel != nil {
		a.cancel()
		if err := <-a.done; err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "agent:", err)
		}
	}
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

func serveRegistry(t *testing.T, reg *prometheus.Registry) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String() + "/metrics"
}
