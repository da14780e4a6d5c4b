package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	verdictv1 "github.com/meshward/meshward/api/verdict/v1"
	"github.com/meshward/meshward/api/xdsevent"
	"github.com/meshward/meshward/extauthz/lateral"
	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/internal/identity"
)

const xdsToken = "xds-events-token-0123456789"

// sink stands for the xDS admin API: it checks the token, decodes each
// event as the xDS server does, and answers what answer says.
type sink struct {
	*httptest.Server
	got    chan xdsevent.Event
	mu     sync.Mutex
	posts  int
	answer func(n int, e xdsevent.Event) int
}

func newSink(t *testing.T, answer func(n int, e xdsevent.Event) int) *sink {
	s := &sink{got: make(chan xdsevent.Event, 1024), answer: answer}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != xdsevent.Path || req.Header.Get("Authorization") != "Bearer "+xdsToken {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		e, err := xdsevent.Decode(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.posts++
		n := s.posts
		s.mu.Unlock()
		code := http.StatusAccepted
		if s.answer != nil {
			code = s.answer(n, e)
		}
		w.WriteHeader(code)
		if code == http.StatusAccepted {
			s.got <- e
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) next(t *testing.T) xdsevent.Event {
	t.Helper()
	select {
	case e := <-s.got:
		return e
	case <-time.After(30 * time.Second): // bounds a broken notifier only
		t.Fatal("no event reached the xDS server")
		return xdsevent.Event{}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

const lateralPolicies = `
apiVersion: meshward.io/v1alpha1
kind: MeshwardPolicy
metadata: {name: m, namespace: shop}
spec:
  defaultAction: ALLOW
  lateralMovement: {mode: enforce, quarantineSeconds: 60}
`

func startNotifying(t *testing.T, s *sink, log zerolog.Logger) *Running {
	t.Helper()
	set, err := policy.Parse("t.yaml", []byte(lateralPolicies))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Start(Config{Policy: set, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", InsecurePlaintextChecks: true,
		VerdictToken: []byte(token), Log: log, XDSEvents: &XDSEventsConfig{URL: s.URL, Token: []byte(xdsToken), Backoff: time.Millisecond, Attempts: 3}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

func xdsEvents(r *Running, kind xdsevent.Kind, result string) float64 {
	return testutil.ToFloat64(r.Authorizer.xds.events.WithLabelValues(string(kind), result))
}

// Verdicts, releases and the detector's alerts reach the xDS server as
// events: a quarantine with its time and reason, a release, a scan for a
// fan-out and a lateral-movement suspect for new edges where the
// namespace only alerts, a quarantine where it enforces.
func TestXDSEventsReported(t *testing.T) {
	s := newSink(t, nil)
	r := startNotifying(t, s, zerolog.Nop())
	v := Verdicts{A: r.Authorizer}
	if _, err := v.Report(context.Background(), &verdictv1.Verdict{Workload: orders, Reason: "exec shell /bin/sh", Score: 1, TtlSeconds: 90}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Release(context.Background(), &verdictv1.ReleaseRequest{Workload: orders}); err != nil {
		t.Fatal(err)
	}
	lab := "spiffe://cluster.local/ns/lab/sa/researcher"
	r.Authorizer.lateral.act(lateral.Alert{Source: lab, Kind: "fan-out-ports"})
	r.Authorizer.lateral.act(lateral.Alert{Source: lab, Kind: "new-edges"})
	r.Authorizer.lateral.act(lateral.Alert{Source: frontend, Kind: "new-edges"})
	urgent := []xdsevent.Event{
		{Kind: xdsevent.Quarantine, Workload: orders, Reason: "exec_shell__bin_sh", TTLSeconds: 90},
		{Kind: xdsevent.Release, Workload: orders},
		{Kind: xdsevent.Quarantine, Workload: frontend, Reason: "lateral-movement:new-edges", TTLSeconds: 60},
	}
	alerts := []xdsevent.Event{{Kind: xdsevent.Scan, Workload: lab, Reason: "fan-out-ports"}, {Kind: xdsevent.Lateral, Workload: lab, Reason: "new-edges"}}
	var gotUrgent, gotAlerts []xdsevent.Event
	for range len(urgent) + len(alerts) { // each queue in order; the two side by side
		if e := s.next(t); e.Kind == xdsevent.Quarantine || e.Kind == xdsevent.Release {
			gotUrgent = append(gotUrgent, e)
		} else {
			gotAlerts = append(gotAlerts, e)
		}
	}
	if !slices.Equal(gotUrgent, urgent) || !slices.Equal(gotAlerts, alerts) {
		t.Fatalf("got %+v and %+v, want %+v and %+v", gotUrgent, gotAlerts, urgent, alerts)
	}
	// Counted once the answer is read, after the sink passed the event on.
	waitUntil(t, 30*time.Second, func() bool {
		return xdsEvents(r, xdsevent.Quarantine, "sent") == 2 && xdsEvents(r, xdsevent.Scan, "sent") == 1
	})
}

// An xDS server that fails is tried again with backoff; one that refuses
// an event (4xx) is not. Neither the token nor the URL's path reach the
// log.
func TestXDSEventsRetried(t *testing.T) {
	s := newSink(t, func(n int, e xdsevent.Event) int {
		switch {
		case e.Workload == frontend:
			return http.StatusBadRequest
		case n <= 2:
			return http.StatusServiceUnavailable
		}
		return http.StatusAccepted
	})
	var logs syncBuffer
	r := startNotifying(t, s, zerolog.New(&logs))
	r.Authorizer.xds.quarantined(orders, "syscall-anomaly", 0)
	if e := s.next(t); e.Workload != orders {
		t.Fatalf("got %+v", e)
	}
	r.Authorizer.xds.quarantined(frontend, "syscall-anomaly", 0)
	r.Authorizer.xds.released(orders)
	if e := s.next(t); e.Kind != xdsevent.Release { // after the refused one: one worker, in order
		t.Fatalf("got %+v", e)
	}
	s.mu.Lock()
	posts := s.posts
	s.mu.Unlock()
	if posts != 5 || testutil.ToFloat64(r.Authorizer.xds.retries) != 2 || xdsEvents(r, xdsevent.Quarantine, "rejected") != 1 {
		t.Fatalf("%d posts, %v retries, %v rejected; want 5 (two failed, one sent, one refused, one sent), 2, 1",
			posts, testutil.ToFloat64(r.Authorizer.xds.retries), xdsEvents(r, xdsevent.Quarantine, "rejected"))
	}
	if strings.Contains(logs.String(), xdsToken) || strings.Contains(logs.String(), xdsevent.Path) {
		t.Fatalf("the log holds the token or the URL: %s", logs.String())
	}
}

// The attack: a suspect provokes alerts to fill the notifier's queue so
// that its quarantine never reaches the xDS server. Alerts past the queue
// are dropped and counted, the caller is never blocked, and the
// quarantine still gets through while the alerts' worker is stuck.
func TestXDSEventsAlertFloodCannotHoldAQuarantine(t *testing.T) {
	stuck := make(chan struct{})
	s := newSink(t, func(_ int, e xdsevent.Event) int {
		if e.Kind == xdsevent.Scan {
			<-stuck
		}
		return http.StatusAccepted
	})
	r := startNotifying(t, s, zerolog.Nop())
	defer close(stuck)
	attacker := "spiffe://cluster.local/ns/lab/sa/attacker"
	for range xdsAlertQueue + 6 {
		r.Authorizer.xds.lateral(lateral.Alert{Source: attacker, Kind: "fan-out-destinations"}, false, 0)
	}
	r.Authorizer.xds.quarantined(attacker, "syscall-anomaly", 0)
	if e := s.next(t); e.Kind != xdsevent.Quarantine || e.Workload != attacker {
		t.Fatalf("got %+v, want the attacker's quarantine", e)
	}
	if d := xdsEvents(r, xdsevent.Scan, "dropped"); d < 5 {
		t.Fatalf("%v alerts dropped, want at least 5", d)
	}
}

// A workload not named by a SPIFFE ID is no xDS node's: skipped, counted.
func TestXDSEventsSkipOtherNames(t *testing.T) {
	s := newSink(t, nil)
	r := startNotifying(t, s, zerolog.Nop())
	r.Authorizer.xds.quarantined("orders", "r", 0)
	if xdsEvents(r, xdsevent.Quarantine, "skipped") != 1 {
		t.Fatal("not skipped")
	}
}

// A configuration that would report to anyone, or hand the token to the
// network, is refused.
func TestXDSEventsConfigRefused(t *testing.T) {
	ca, _ := identity.NewCA()
	cert, _ := ca.Issue("spiffe://cluster.local/ns/meshward/sa/extauthz")
	mtls := ca.ClientTLS(cert)
	for _, tc := range []struct {
		name string
		cfg  XDSEventsConfig
		want string
	}{
		{"no scheme", XDSEventsConfig{URL: "xds:18001", Token: []byte(xdsToken)}, "want https://host:port"},
		{"ftp", XDSEventsConfig{URL: "ftp://xds:18001", Token: []byte(xdsToken)}, "want https://host:port"},
		{"a path", XDSEventsConfig{URL: "https://xds:18001/rotate", TLS: mtls}, "want only scheme, host and port"},
		{"a query", XDSEventsConfig{URL: "https://xds:18001?token=x", TLS: mtls}, "want only scheme, host and port"},
		{"user info", XDSEventsConfig{URL: "https://u:p@xds:18001", TLS: mtls}, "want only scheme, host and port"},
		{"no credentials", XDSEventsConfig{URL: "https://xds:18001", TLS: &tls.Config{RootCAs: ca.Pool}}, "neither a token nor a client certificate"},
		{"plain http off loopback", XDSEventsConfig{URL: "http://10.0.0.1:18001", Token: []byte(xdsToken)}, "only on loopback and with a token"},
		{"https without a CA", XDSEventsConfig{URL: "https://xds:18001", Token: []byte(xdsToken)}, "needs the CA"},
	} {
		if _, err := newXDSNotifier(&tc.cfg, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	for _, cfg := range []XDSEventsConfig{
		{URL: "https://xds:18001", TLS: mtls},
		{URL: "http://127.0.0.1:18001/", Token: []byte(xdsToken)},
	} {
		n, err := newXDSNotifier(&cfg, zerolog.Nop())
		if err != nil || !strings.HasSuffix(n.url, xdsevent.Path) {
			t.Errorf("%s: %v", cfg.URL, err)
		}
	}
}
