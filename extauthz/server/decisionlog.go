package server

import (
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/meshward/meshward/extauthz/decision"
	"github.com/meshward/meshward/extauthz/policy"
)

// DecisionLogConfig says which decisions are written as JSON lines.
type DecisionLogConfig struct {
	// AllowSample is the share of allowed decisions logged (0 to 1).
	AllowSample float64
	// DeniesPerSecond caps denial lines, so that a flood or a scan cannot
	// flood the log; decisions past it are counted, not written.
	DeniesPerSecond float64
	// Always log decisions that involve AUDIT or dry-run policies.
}

// DefaultDecisionLog logs 1% of allows and up to 100 denials a second.
var DefaultDecisionLog = DecisionLogConfig{AllowSample: 0.01, DeniesPerSecond: 100}

type decisionLog struct {
	cfg        DecisionLogConfig
	log        zerolog.Logger
	denies     *rate.Limiter
	suppressed prometheus.Counter
	seq        atomic.Uint64
}

func newDecisionLog(cfg DecisionLogConfig, log zerolog.Logger, reg prometheus.Registerer) *decisionLog {
	dl := &decisionLog{cfg: cfg, log: log, denies: rate.NewLimiter(rate.Limit(cfg.DeniesPerSecond), int(cfg.DeniesPerSecond)+1),
		suppressed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshward_authz_decision_log_suppressed_total", Help: "Denials not written because of the decision log's rate cap.",
		})}
	reg.MustRegister(dl.suppressed)
	return dl
}

// write logs one decision if sampling says so. The line carries the deciding
// rule and the facts that explain it, never headers, and the path without its
// query (which may hold tokens).
func (dl *decisionLog) write(transport string, r *policy.Request, d decision.Decision, took time.Duration) {
	special := len(d.Audit) > 0 || d.DryRun != ""
	switch {
	case special:
	case d.Allow && rand.Float64() >= dl.cfg.AllowSample:
		return
	case !d.Allow && !dl.denies.Allow():
		dl.suppressed.Inc()
		return
	}
	path := r.Path
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	ev := dl.log.Info()
	if !d.Allow {
		ev = dl.log.Warn()
	}
	ev.Uint64("seq", dl.seq.Add(1)).Str("transport", transport).Bool("allow", d.Allow).Str("reason", d.Reason).
		Str("rule", d.Rule).Strs("audit", d.Audit).Str("dry_run", d.DryRun).
		Str("source", r.SourcePrincipal).Str("source_address", r.SourceAddress).Str("destination", r.Destination).
		Str("method", r.Method).Str("path", path).Dur("took", took).Msg("decision")
}
