// Package agent is the node agent's core: it maps each event's cgroup to a
// workload, runs the detection rule, and reports findings as verdicts.
package agent

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	verdictv1 "github.com/meshward/meshward/api/verdict/v1"
	"github.com/meshward/meshward/ebpf-agent/collector"
	"github.com/meshward/meshward/ebpf-agent/detect"
)

// Reporter delivers verdicts (verdict.Client in production).
type Reporter interface {
	Report(ctx context.Context, v *verdictv1.Verdict) (uint64, error)
}

// Isolator cuts a container off the network in the kernel (isolate.Isolator).
type Isolator interface {
	Isolate(cgroupDir string) error
}

// Agent watches workloads through a collector.
type Agent struct {
	c        *collector.Collector
	byCgroup map[uint64]Workload
	rule     *detect.ShellExec
	reporter Reporter
	log      zerolog.Logger
	events   *prometheus.CounterVec
	verdicts *prometheus.CounterVec
	isolated *prometheus.CounterVec
	ctx      context.Context
	// Isolator, when set, isolates a flagged container at once, before the
	// verdict travels: the kernel does not wait for the network.
	Isolator Isolator
}

// New starts monitoring the workloads' cgroups.
func New(c *collector.Collector, ws []Workload, r Reporter, reg prometheus.Registerer, log zerolog.Logger) (*Agent, error) {
	if len(ws) == 0 {
		return nil, errors.New("agent: no workloads to watch")
	}
	a := &Agent{c: c, byCgroup: map[uint64]Workload{}, rule: detect.NewShellExec(), reporter: r, log: log,
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshward_agent_events_total", Help: "System calls seen, by workload.",
		}, []string{"workload"}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshward_agent_verdicts_total", Help: "Verdicts sent, by reason and outcome.",
		}, []string{"reason", "outcome"}),
	}
	a.isolated = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshward_agent_isolations_total", Help: "Containers isolated in the kernel, by outcome.",
	}, []string{"outcome"})
	drops := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "meshward_agent_ringbuf_drops_total", Help: "Events lost to a full ring buffer.",
	}, func() float64 { n, _ := c.Drops(); return float64(n) })
	reg.MustRegister(a.events, a.verdicts, a.isolated, drops)
	for _, w := range ws {
		if err := c.Monitor(w.CgroupID); err != nil {
			return nil, err
		}
		a.byCgroup[w.CgroupID] = w
		log.Info().Str("workload", w.Identity).Str("cgroup", w.CgroupDir).Uint64("cgroup_id", w.CgroupID).Msg("watching")
	}
	return a, nil
}

// Run reads events until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	a.ctx = ctx
	return a.c.Run(ctx, a.handle)
}

func (a *Agent) handle(ev collector.Event) {
	w, ok := a.byCgroup[ev.CgroupID]
	if !ok {
		return
	}
	a.events.WithLabelValues(w.Identity).Inc()
	f, flagged := a.rule.Observe(detect.Call{Workload: w.Identity, PID: ev.PID, Syscall: ev.Syscall, Path: ev.Path})
	if !flagged {
		return
	}
	if a.Isolator != nil {
		if err := a.Isolator.Isolate(w.CgroupDir); err != nil {
			a.isolated.WithLabelValues("failed").Inc()
			a.log.Error().Err(err).Str("workload", w.Identity).Msg("kernel isolation failed")
		} else {
			a.isolated.WithLabelValues("isolated").Inc()
			a.log.Warn().Str("workload", w.Identity).Str("cgroup", w.CgroupDir).Msg("container isolated in the kernel")
		}
	}
	// Report off the reader loop: a slow authorizer must not stall collection.
	go a.report(f, w)
}

func (a *Agent) report(f detect.Finding, w Workload) {
	epoch, err := a.reporter.Report(a.ctx, &verdictv1.Verdict{
		Workload: f.Workload, Reason: f.Reason, Score: f.Score, Evidence: f.Evidence, Container: w.CgroupDir,
	})
	if err != nil {
		a.verdicts.WithLabelValues(f.Reason, "failed").Inc()
		a.log.Error().Err(err).Str("workload", f.Workload).Msg("verdict not delivered")
		a.rule.Reset(f.Workload) // so that the next occurrence tries again
		return
	}
	a.verdicts.WithLabelValues(f.Reason, "sent").Inc()
	a.log.Warn().Str("workload", f.Workload).Str("reason", f.Reason).Strs("evidence", f.Evidence).
		Uint64("epoch", epoch).Msg("verdict sent")
}
