package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"k8s.io/client-go/rest"

	"github.com/meshward/meshward/api/check"
	verdictv1 "github.com/meshward/meshward/api/verdict/v1"
	"github.com/meshward/meshward/extauthz/decision"
	"github.com/meshward/meshward/extauthz/kube"
	"github.com/meshward/meshward/extauthz/lateral"
	"github.com/meshward/meshward/extauthz/learn"
	"github.com/meshward/meshward/extauthz/policy"
	"github.com/meshward/meshward/extauthz/quarantine"
	"github.com/meshward/meshward/extauthz/workloads"
	"github.com/meshward/meshward/internal/pathnorm"
)

// Config is what one authorizer process serves.
type Config struct {
	// PolicyPaths are files and directories of policies, reloaded when they
	// change; Kube reads them from a cluster's AuthorizationPolicies and
	// MeshwardPolicies instead; Policy is a fixed set (tests, the demo).
	PolicyPaths    []string
	Kube           *rest.Config
	ReloadInterval time.Duration // default 1s
	Policy         *policy.Set
	Quarantine     *quarantine.Set // nil: a new, empty one
	GRPCAddr       string          // ext_authz and verdicts
	GRPCTLS        *tls.Config     // TLS (mutual, with ClientCAs) on GRPCAddr; nil: plaintext
	HTTPAddr       string          // the filter's check, /metrics, /healthz
	HTTPTLS        *tls.Config     // TLS (mutual, with ClientCAs) on HTTPAddr; nil: plaintext
	// InsecurePlaintextChecks lets a listener without client certificates
	// answer checks, trusting whatever a caller claims (dev and demo only;
	// logged loudly). Without it, both listeners need TLS with client CAs.
	InsecurePlaintextChecks bool
	// Workloads binds identities to the labels and services their checks may
	// claim; nil trusts each sidecar's claims about itself (as Istio trusts a
	// proxy's node metadata), which lets a workload read others' decisions.
	Workloads    *workloads.Registry
	VerdictToken []byte // required: the verdict API is never open
	// CacheTTL is how long filters may reuse a cacheable answer; the epoch
	// drops it sooner on any change. Negative disables filter caching.
	CacheTTL time.Duration
	// MaxInFlight bounds the checks being served at once (default 512); more
	// are shed unread with a clear status (gRPC RESOURCE_EXHAUSTED, HTTP 503).
	MaxInFlight int
	// MaxInFlightPerCaller bounds one caller's share of them (default
	// DefaultMaxInFlightPerCaller), so that one workload cannot starve the rest.
	MaxInFlightPerCaller int
	// CheckDeadline bounds how long one check may hold a slot, reading
	// included (default 5 s).
	CheckDeadline time.Duration
	// PathNormalization is applied to every check's path (default: meshward's,
	// MERGE_SLASHES); sidecars must use the same mode.
	PathNormalization pathnorm.Mode
	// Lateral configures the lateral-movement detector; LateralLearnFor is
	// how long it learns normal edges before unseen ones raise alerts.
	Lateral         lateral.Config
	LateralLearnFor time.Duration
	// Learn records allowed traffic for GET /v1/learned (least-privilege policies).
	Learn bool
	// DecisionLog samples decisions into JSON lines on DecisionLogger
	// (nil: DefaultDecisionLog; the logger defaults to Log).
	DecisionLog    *DecisionLogConfig
	DecisionLogger *zerolog.Logger
	// Mount adds more handlers to the check port (the EaaS requester
	// endpoints); they authenticate their callers themselves.
	Mount func(*http.ServeMux)
	// XDSEvents, if set, reports alerts and quarantines to the xDS server.
	XDSEvents *XDSEventsConfig
	// Registry is where metrics go (nil: a new one); /metrics serves it.
	Registry *prometheus.Registry
	Log      zerolog.Logger
	// Shared, if set, shares the quarantine set and the epoch with the other
	// replicas (shared.go).
	Shared Shared
}

// DefaultMaxInFlight is enough to keep every core busy with queueing to spare.
const DefaultMaxInFlight = 512

// maxCheckMessage bounds a gRPC message and its metadata.
const maxCheckMessage = check.MaxRequestBytes + 16<<10

// DefaultMaxInFlightPerCaller lets one sidecar keep a busy Envoy's workers fed
// while eight such callers are needed to fill the authorizer.
const DefaultMaxInFlightPerCaller = 64

// Running is a started authorizer.
type Running struct {
	Authorizer *Authorizer
	GRPCAddr   net.Addr
	HTTPAddr   net.Addr
	grpc       *grpc.Server
	http       *http.Server
	done       chan error
	stop       chan struct{}
}

// DefaultCacheTTL bounds how long an answer lives in a filter's cache when no
// epoch change drops it first.
const DefaultCacheTTL = 10 * time.Second

func cacheTTL(d time.Duration) time.Duration {
	switch {
	case d < 0:
		return 0
	case d == 0:
		return DefaultCacheTTL
	}
	return d
}

func loadPolicy(cfg *Config) (*policy.Watcher, error) {
	sources := 0
	for _, given := range []bool{cfg.Policy != nil, len(cfg.PolicyPaths) > 0, cfg.Kube != nil} {
		if given {
			sources++
		}
	}
	switch {
	case sources > 1:
		return nil, errors.New("authorizer: give one policy source: paths, a cluster, or a set")
	case cfg.Kube != nil:
		cfg.Policy = policy.NewSet(nil, nil) // deny all until the informers have synced
		return nil, nil
	case cfg.Policy != nil:
		return nil, nil
	case len(cfg.PolicyPaths) == 0:
		return nil, errors.New("authorizer: no policy")
	}
	if cfg.ReloadInterval == 0 {
		cfg.ReloadInterval = time.Second
	}
	w := policy.NewWatcher(cfg.ReloadInterval, cfg.PolicyPaths...)
	set, err := w.Load()
	if err != nil {
		return nil, err
	}
	cfg.Policy = set
	return w, nil
}

// applyPolicy makes s the active set.
func (a *Authorizer) applyPolicy(s *policy.Set, from string) {
	a.Engine.SetPolicy(s)
	if a.shared != nil {
		a.shared.PolicyApplied()
	}
	a.Metrics.reloads.WithLabelValues("applied").Inc()
	a.Log.Info().Str("from", from).Int("policies", s.Policies()).Int("rules", s.Len()).
		Uint64("epoch", a.Engine.Epoch()).Msg("policy set applied")
}

func (a *Authorizer) rejectPolicy(err error, msg string) {
	a.Metrics.reloads.WithLabelValues("rejected").Inc()
	a.notePolicyError(err)
	a.Log.Error().Err(err).Msg(msg)
}

// watchKube applies the cluster's policies as informers report them.
func (r *Running) watchKube(cfg *rest.Config) error {
	a := r.Authorizer
	src, err := kube.New(cfg, 10*time.Minute)
	if err != nil {
		return err
	}
	src.Apply = func(s *policy.Set) { a.applyPolicy(s, "cluster") }
	src.Reject = func(obj string, err error) {
		a.rejectPolicy(err, "policy object "+obj+" rejected; its last good version stays in force")
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-r.stop; cancel() }()
	go func() {
		if err := src.Run(ctx); err != nil {
			a.Log.Error().Err(err).Msg("kubernetes policy source stopped")
		}
	}()
	return nil
}

// watch applies policy changes as they come, keeping the active set when a
// change is invalid.
func (r *Running) watch(w *policy.Watcher, every time.Duration) {
	a := r.Authorizer
	w.OnApply = func(s *policy.Set) { a.applyPolicy(s, "files") }
	w.OnReject = func(err error) { a.rejectPolicy(err, "policy change rejected; the previous policy stays active") }
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-r.stop; cancel() }()
	w.Start(ctx) // watching before Start returns: no change made after it is missed
}

// Start opens both listeners and serves until Stop.
func Start(cfg Config) (*Running, error) {
	if len(cfg.VerdictToken) == 0 {
		return nil, errors.New("authorizer: a verdict token is required")
	}
	if err := checkListenerAuth(&cfg); err != nil {
		return nil, err
	}
	watcher, err := loadPolicy(&cfg)
	if err != nil {
		return nil, err
	}
	xdsEvents, err := newXDSNotifier(cfg.XDSEvents, cfg.Log)
	if err != nil {
		return nil, err
	}
	gl, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return nil, fmt.Errorf("authorizer: grpc listener: %w", err)
	}
	hl, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		gl.Close()
		return nil, fmt.Errorf("authorizer: http listener: %w", err)
	}
	if cfg.HTTPTLS != nil {
		hl = tls.NewListener(hl, cfg.HTTPTLS)
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	q := cmp.Or(cfg.Quarantine, quarantine.New())
	a := &Authorizer{Engine: decision.New(cfg.Policy, q), Log: cfg.Log, CacheTTL: cacheTTL(cfg.CacheTTL),
		insecureChecks: cfg.InsecurePlaintextChecks, token: cfg.VerdictToken, PathNormalization: cfg.PathNormalization,
		workloads: cfg.Workloads}
	a.Metrics = NewMetrics(reg, a.gauges())
	r := &Running{Authorizer: a, GRPCAddr: gl.Addr(), HTTPAddr: hl.Addr(), done: make(chan error, 2), stop: make(chan struct{})}
	if err := r.startShared(cfg.Shared); err != nil {
		gl.Close()
		hl.Close()
		return nil, err
	}
	if watcher != nil {
		r.watch(watcher, cfg.ReloadInterval)
	}
	if cfg.Kube != nil {
		if err := r.watchKube(cfg.Kube); err != nil {
			r.Stop()
			return nil, err
		}
	}
	if cfg.Lateral.Window == 0 {
		cfg.Lateral = lateral.DefaultConfig
	}
	if cfg.LateralLearnFor == 0 {
		cfg.LateralLearnFor = 10 * time.Minute
	}
	a.xds = xdsEvents.start(reg, r.stop)
	a.lateral = newLateralFeed(a, cfg.Lateral, cfg.LateralLearnFor, reg, r.stop)
	if cfg.Learn {
		a.learner = learn.New()
	}
	dlCfg, dlLog := DefaultDecisionLog, cfg.Log
	if cfg.DecisionLog != nil {
		dlCfg = *cfg.DecisionLog
	}
	if cfg.DecisionLogger != nil {
		dlLog = *cfg.DecisionLogger
	}
	a.dlog = newDecisionLog(dlCfg, dlLog, reg)
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.MaxInFlightPerCaller <= 0 {
		cfg.MaxInFlightPerCaller = DefaultMaxInFlightPerCaller
	}
	shed := newShedder(cfg.MaxInFlight, cfg.MaxInFlightPerCaller, a.Metrics)
	if cfg.CheckDeadline > 0 {
		shed.deadline = cfg.CheckDeadline
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "meshward_authz_checks_in_flight", Help: "Checks holding one of the --max-in-flight slots now.",
	}, shed.inFlight))
	opts := []grpc.ServerOption{grpc.InTapHandle(shed.tap), grpc.ChainUnaryInterceptor(TokenAuth(cfg.VerdictToken)),
		// Envoy's CheckRequest for a request within its 60 KiB header limit fits
		// the HTTP check's bound with room to spare; gRPC's 4 MiB default would
		// let one caller's 64 slots hold 256 MiB.
		grpc.MaxRecvMsgSize(maxCheckMessage), grpc.MaxHeaderListSize(maxCheckMessage)}
	if cfg.GRPCTLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.GRPCTLS)))
	}
	r.grpc = grpc.NewServer(opts...)
	authv3.RegisterAuthorizationServer(r.grpc, ExtAuthz{A: a})
	verdictv1.RegisterVerdictsServer(r.grpc, Verdicts{A: a})

	mux := http.NewServeMux()
	mux.HandleFunc(check.Path, shed.http(a.ServeCheck))
	mux.HandleFunc("GET "+check.EpochPath, a.meshCaller(a.ServeEpoch))
	mux.HandleFunc("GET /v1/learned", a.operator(a.ServeLearned))
	mux.HandleFunc("GET "+StatusPath, a.operator(a.serveStatus(cfg.Mount != nil)))
	if cfg.Mount != nil {
		cfg.Mount(mux)
	}
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	r.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	go func() { r.done <- r.grpc.Serve(gl) }()
	go func() { r.done <- r.http.Serve(hl) }()
	cfg.Log.Info().Str("grpc", gl.Addr().String()).Str("http", hl.Addr().String()).
		Int("rules", cfg.Policy.Len()).Msg("authorizer serving")
	return r, nil
}

// Stop drains both servers.
func (r *Running) Stop() {
	close(r.stop)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = r.http.Shutdown(ctx)
	r.grpc.GracefulStop()
}

// Wait returns when either server fails.
func (r *Running) Wait() error { return <-r.done }

// checkListenerAuth makes sure that both listeners know who calls them:
// mutual TLS with the mesh CA, or the dev mode said out loud.
func checkListenerAuth(cfg *Config) error {
	if cfg.InsecurePlaintextChecks {
		cfg.Log.Warn().Msg("INSECURE: --insecure-plaintext-checks: checks are not authenticated; any process that reaches " +
			"the authorizer can forge them (claim any source, frame any workload, read the policy). For local demos only.")
		return nil
	}
	if cfg.Workloads == nil {
		cfg.Log.Warn().Msg("no workload registry (--workloads): a check's destination labels and service are taken as its " +
			"sidecar claims them, so a workload can ask about another's policies by claiming its labels")
	}
	for _, l := range []struct {
		name string
		cfg  *tls.Config
	}{{"gRPC", cfg.GRPCTLS}, {"HTTP", cfg.HTTPTLS}} {
		if l.cfg == nil || l.cfg.ClientCAs == nil {
			return fmt.Errorf("authorizer: the %s listener needs mutual TLS with the mesh CA (a certificate, a key and "+
				"the client CA), so that it knows which sidecar asks; plaintext only with --insecure-plaintext-checks", l.name)
		}
	}
	// /metrics and /healthz answer without a client certificate; the check
	// and epoch handlers require one (meshCaller, vouch).
	cfg.HTTPTLS = cfg.HTTPTLS.Clone()
	cfg.HTTPTLS.ClientAuth = tls.VerifyClientCertIfGiven
	return nil
}
