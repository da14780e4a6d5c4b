package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/meshward/meshward/api/xdsevent"
	"github.com/meshward/meshward/extauthz/lateral"
)

// XDSEventsConfig says where the authorizer reports its security events:
// the xDS server's admin API, which moves the services a suspect could
// reach and stops telling a quarantined workload anything.
type XDSEventsConfig struct {
	URL   string      // the admin API's base, https://host:port (plain http only on loopback, with a token)
	Token []byte      // sent as Authorization: Bearer; nil: none
	TLS   *tls.Config // the CA to trust and, for mutual TLS, the authorizer's mesh certificate
	// Backoff is the wait before the first retry (default 200 ms), doubled
	// up to 5 s; Attempts bounds the tries of one event (default 8).
	Backoff  time.Duration
	Attempts int
}

// xdsNotifier posts events off the hot path: the detector and the verdict
// API only queue them (a full queue drops and counts), and two workers
// send them with retries. Quarantines and releases have a queue and a
// worker of their own, so that a suspect's alerts (which it can provoke)
// never crowd out or delay its quarantine.
type xdsNotifier struct {
	url      string
	host     string // for the logs: never the token
	token    []byte
	client   *http.Client
	urgent   chan xdsevent.Event // quarantine, release
	alerts   chan xdsevent.Event // scan, lateral
	backoff  time.Duration
	attempts int
	log      zerolog.Logger
	events   *prometheus.CounterVec // kind, result
	retries  prometheus.Counter
}

// Queue sizes: an attack raises a handful of events a window per source.
const (
	xdsUrgentQueue = 1024
	xdsAlertQueue  = 256
	xdsMaxBackoff  = 5 * time.Second
	xdsPostTimeout = 10 * time.Second
)

// newXDSNotifier checks cfg and builds the notifier (nil for no cfg); start
// runs it.
func newXDSNotifier(cfg *XDSEventsConfig, log zerolog.Logger) (*xdsNotifier, error) {
	if cfg == nil {
		return nil, nil
	}
	u, err := checkXDSEvents(cfg)
	if err != nil {
		return nil, err
	}
	n := &xdsNotifier{url: u.String(), host: u.Host, token: cfg.Token, backoff: cfg.Backoff, attempts: cfg.Attempts,
		urgent: make(chan xdsevent.Event, xdsUrgentQueue), alerts: make(chan xdsevent.Event, xdsAlertQueue),
		client: &http.Client{Timeout: xdsPostTimeout, Transport: &http.Transport{TLSClientConfig: cfg.TLS, ForceAttemptHTTP2: true}},
		log:    log.With().Str("component", "xds-events").Logger()}
	if n.backoff <= 0 {
		n.backoff = 200 * time.Millisecond
	}
	if n.attempts <= 0 {
		n.attempts = 8
	}
	return n, nil
}

// checkXDSEvents refuses a configuration that would report to anyone or
// hand the token to the network.
func checkXDSEvents(cfg *XDSEventsConfig) (*url.URL, error) {
	u, err := url.Parse(cfg.URL)
	mutual := cfg.TLS != nil && (len(cfg.TLS.Certificates) > 0 || cfg.TLS.GetClientCertificate != nil)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return nil, fmt.Errorf("xds events: URL %q: want https://host:port of the xDS admin API", cfg.URL)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/"):
		return nil, fmt.Errorf("xds events: URL %q: want only scheme, host and port (events go to %s)", cfg.URL, xdsevent.Path)
	case len(cfg.Token) == 0 && !mutual:
		return nil, errors.New("xds events: neither a token nor a client certificate: the xDS server would not know who reports")
	case u.Scheme == "http" && (len(cfg.Token) == 0 || !loopbackHost(u.Hostname())):
		return nil, fmt.Errorf("xds events: plain http to %s: only on loopback and with a token; give the xDS admin API a certificate", u.Host)
	case u.Scheme == "https" && (cfg.TLS == nil || cfg.TLS.RootCAs == nil):
		return nil, errors.New("xds events: https needs the CA that signed the xDS admin API's certificate")
	}
	u.Path = xdsevent.Path
	return u, nil
}

func loopbackHost(h string) bool {
	ip := net.ParseIP(h)
	return h == "localhost" || ip != nil && ip.IsLoopback()
}

// start registers the metrics and runs the workers until stop.
func (n *xdsNotifier) start(reg prometheus.Registerer, stop <-chan struct{}) *xdsNotifier {
	if n == nil {
		return nil
	}
	n.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshward_authz_xds_events_total", Help: "Security events for the xDS server, by kind and result (sent, rejected, failed, dropped, skipped).",
	}, []string{"kind", "result"})
	n.retries = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "meshward_authz_xds_event_retries_total", Help: "Posts of events to the xDS server tried again.",
	})
	reg.MustRegister(n.events, n.retries)
	go n.run(n.urgent, stop)
	go n.run(n.alerts, stop)
	n.log.Info().Str("xds", n.host).Msg("reporting security events to the xDS server")
	return n
}

// lateral reports a detector's alert: a quarantine where the namespace
// enforces, else a scan (fan-out) or a lateral-movement suspect (new edges).
func (n *xdsNotifier) lateral(al lateral.Alert, quarantined bool, ttl time.Duration) {
	if n == nil {
		return
	}
	if quarantined {
		n.quarantined(al.Source, "lateral-movement:"+al.Kind, ttl)
		return
	}
	kind := xdsevent.Lateral
	if strings.HasPrefix(al.Kind, "fan-out") {
		kind = xdsevent.Scan
	}
	n.enqueue(n.alerts, xdsevent.Event{Kind: kind, Workload: al.Source, Reason: reasonID(al.Kind)})
}

// quarantined reports a quarantine made (ttl 0: until released).
func (n *xdsNotifier) quarantined(workload, reason string, ttl time.Duration) {
	if n == nil {
		return
	}
	secs := int64((ttl + time.Second - 1) / time.Second)
	n.enqueue(n.urgent, xdsevent.Event{Kind: xdsevent.Quarantine, Workload: workload, Reason: reasonID(reason),
		TTLSeconds: min(secs, int64(xdsevent.MaxTTL/time.Second))})
}

// released reports a quarantine lifted.
func (n *xdsNotifier) released(workload string) {
	if n == nil {
		return
	}
	n.enqueue(n.urgent, xdsevent.Event{Kind: xdsevent.Release, Workload: workload})
}

// enqueue never blocks: the caller decides requests or answers verdicts.
func (n *xdsNotifier) enqueue(q chan xdsevent.Event, e xdsevent.Event) {
	if err := e.Validate(); err != nil { // a workload named otherwise than by SPIFFE ID: no node carries it
		n.events.WithLabelValues(string(e.Kind), "skipped").Inc()
		return
	}
	select {
	case q <- e:
	default:
		n.events.WithLabelValues(string(e.Kind), "dropped").Inc()
		n.log.Warn().Str("kind", string(e.Kind)).Str("workload", e.Workload).Msg("xds event queue full: event dropped")
	}
}

// reasonID keeps the characters an event's reason may hold: the agent's
// reasons are free text.
func reasonID(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._:", c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
		if b.Len() == 128 {
			break
		}
	}
	return b.String()
}

func (n *xdsNotifier) run(q <-chan xdsevent.Event, stop <-chan struct{}) {
	for {
		select {
		case e := <-q:
			n.deliver(e, stop)
		case <-stop:
			return
		}
	}
}

// deliver posts e until the xDS server takes it (202) or refuses it (4xx
// but 429: trying again would not help), retrying the rest with backoff.
func (n *xdsNotifier) deliver(e xdsevent.Event, stop <-chan struct{}) {
	body, _ := json.Marshal(e)
	wait := n.backoff
	for attempt := 1; ; attempt++ {
		code, err := n.post(body)
		switch {
		case err == nil && code == http.StatusAccepted:
			n.events.WithLabelValues(string(e.Kind), "sent").Inc()
			n.log.Info().Str("kind", string(e.Kind)).Str("workload", e.Workload).Int("attempts", attempt).Msg("xds event sent")
			return
		case err == nil && code < 500 && code != http.StatusTooManyRequests:
			n.events.WithLabelValues(string(e.Kind), "rejected").Inc()
			n.log.Error().Str("kind", string(e.Kind)).Str("workload", e.Workload).Int("status", code).Str("xds", n.host).Msg("xds server refused an event")
			return
		}
		if attempt >= n.attempts {
			n.events.WithLabelValues(string(e.Kind), "failed").Inc()
			n.log.Error().Str("kind", string(e.Kind)).Str("workload", e.Workload).Int("status", code).AnErr("error", err).
				Int("attempts", attempt).Str("xds", n.host).Msg("xds event not delivered")
			return
		}
		n.retries.Inc()
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			return
		}
		wait = min(2*wait, xdsMaxBackoff)
	}
}

func (n *xdsNotifier) post(body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), xdsPostTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if len(n.token) > 0 {
		req.Header.Set("Authorization", "Bearer "+string(n.token))
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return 0, redactURL(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	return resp.StatusCode, nil
}

// redactURL keeps a transport error's cause without the request's URL.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
