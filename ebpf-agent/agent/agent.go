// Package agent is the node agent's core: it maps each event's cgroup to a
// watched container, feeds the container's profile, runs the rules, and
// reports findings as verdicts (and isolates, when told to).
package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	verdictv1 "github.com/meshward/meshward/api/verdict/v1"
	"github.com/meshward/meshward/ebpf-agent/collector"
	"github.com/meshward/meshward/ebpf-agent/detect"
	"github.com/meshward/meshward/ebpf-agent/profile"
)

// Source is where events come from (collector.Collector).
type Source interface {
	Monitor(cgroupID uint64) error
	Unmonitor(cgroupID uint64) error
	Run(ctx context.Context, fn func(collector.Event)) error
}

// Reporter delivers verdicts (verdict.Client in production).
type Reporter interface {
	Report(ctx context.Context, v *verdictv1.Verdict) (uint64, error)
}

// Isolator cuts a container off the network in the kernel (isolate.Isolator).
type Isolator interface {
	Isolate(cgroupDir string) error
}

// Options tune the agent; the zero value of each field takes its default.
type Options struct {
	Profile   profile.Config // how windows are cut and judged
	AlarmK    int            // anomalous windows that raise an alarm ...
	AlarmN    int            // ... among a container's last AlarmN windows
	Store     Store          // where profiles persist (nil: nowhere)
	SaveEvery time.Duration  // how often changed profiles are saved
	// Isolator, when set, isolates a flagged container at once, before the
	// verdict travels: the kernel does not wait for the network.
	Isolator Isolator
}

func (o *Options) defaults() {
	if o.Profile == (profile.Config{}) {
		o.Profile = profile.DefaultConfig()
	}
	if o.AlarmK == 0 {
		o.AlarmK, o.AlarmN = 2, 64
	}
	if o.SaveEvery == 0 {
		o.SaveEvery = 30 * time.Second
	}
}

// exit ends a thread and exitGroup (x86_64) a process: the thread's last
// window is judged then (its process's other threads are pruned later).
const (
	exit      = 60
	exitGroup = 231
)

// Agent watches containers through a source of events.
type Agent struct {
	src  Source
	opts Options
	// state guards the watched containers: the reader loop holds it for
	// each event, Sync while it changes the set.
	state    sync.Mutex
	byCgroup map[uint64]*watched
	shell    *detect.ShellExec
	reporter Reporter
	log      zerolog.Logger
	m        *metrics
	ctx      context.Context
	saver    *saver
	nextTick uint64 // ktime of the next housekeeping (saves, pruning)

	mu      sync.Mutex
	flagged map[string]bool // workloads with a verdict sent or on its way
}

// New starts monitoring the containers' cgroups and opens their profiles;
// Sync changes the set later (Kubernetes pods come and go).
func New(src Source, ws []Workload, r Reporter, reg prometheus.Registerer, log zerolog.Logger, opts Options) (*Agent, error) {
	opts.defaults()
	if err := opts.Profile.Validate(); err != nil {
		return nil, err
	}
	a := &Agent{src: src, opts: opts, byCgroup: map[uint64]*watched{}, shell: detect.NewShellExec(), reporter: r,
		log: log, m: newMetrics(reg, src), flagged: map[string]bool{}}
	if opts.Store != nil {
		a.saver = newSaver(opts.Store, a.m, log)
	}
	for _, w := range ws {
		if _, dup := a.byCgroup[w.CgroupID]; dup {
			return nil, fmt.Errorf("agent: cgroup %s is watched twice", w.CgroupDir)
		}
		c, err := a.watch(w, nil)
		if err != nil {
			return nil, err
		}
		a.byCgroup[w.CgroupID] = c
	}
	return a, nil
}

// watch starts on a container; prev, when set, is its previous version,
// whose profile is still in memory.
func (a *Agent) watch(w Workload, prev *watched) (*watched, error) {
	p, origin := openProfile(a.opts.Store, a.opts.Profile, w, a.log)
	if prev != nil && origin != "restored" {
		p, origin = prev.prof.Successor(), "successor of "+prev.w.Image
	}
	alarm, err := detect.NewAnomaly(a.opts.AlarmK, a.opts.AlarmN)
	if err != nil {
		return nil, err
	}
	if err := a.src.Monitor(w.CgroupID); err != nil {
		return nil, fmt.Errorf("agent: monitoring %s: %w", w.CgroupDir, err)
	}
	a.log.Info().Str("workload", w.Identity).Str("cgroup", w.CgroupDir).Uint64("cgroup_id", w.CgroupID).
		Str("container", w.Container).Str("image", w.Image).Str("profile", origin).Str("phase", p.Phase().String()).
		Int("ngrams", p.NGrams()).Msg("watching")
	// A new profile or version is saved soon even before it learns: it is
	// the container's latest version from now on.
	return &watched{w: w, prof: p, alarm: alarm, m: a.m.forWorkload(w.Identity, w.Container), dirty: origin != "restored"}, nil
}

// Run reads events until ctx ends, then saves every changed profile.
func (a *Agent) Run(ctx context.Context) error {
	a.ctx = ctx
	err := a.src.Run(ctx, a.handle)
	a.state.Lock()
	defer a.state.Unlock()
	if a.saver != nil {
		a.saveAll()
		a.saver.flush()
	}
	return err
}

// Close saves what changed and stops the saver; the agent is done.
func (a *Agent) Close() {
	a.state.Lock()
	defer a.state.Unlock()
	if a.saver != nil {
		a.saveAll()
		a.saver.close()
		a.saver = nil
	}
}

func (a *Agent) handle(ev collector.Event) {
	a.state.Lock()
	defer a.state.Unlock()
	c, ok := a.byCgroup[ev.CgroupID]
	if !ok {
		return
	}
	if ev.KtimeNs >= a.nextTick {
		a.tick(ev.KtimeNs)
	}
	if ev.Window != nil { // gathered in the kernel
		c.m.events.Add(float64(len(ev.Window)))
		if j, judged := c.prof.Judge(ev.TID, ev.Window); judged {
			a.judged(c, j)
		}
		return
	}
	c.m.events.Inc()
	if f, flagged := a.shell.Observe(detect.Call{Workload: c.w.Identity, PID: ev.PID, Syscall: ev.Syscall, Path: ev.Path}); flagged {
		a.flag(c, f)
	}
	// Windows are per thread: the threads of one process interleave in no
	// fixed order, and a mix of them would never look the same twice.
	if j, judged := c.prof.Observe(ev.TID, ev.Syscall); judged {
		a.judged(c, j)
	}
	if ev.Syscall == exitGroup || ev.Syscall == exit {
		if j, judged := c.prof.Exit(ev.TID); judged {
			a.judged(c, j)
		}
	}
}

func (a *Agent) judged(c *watched, j profile.Judgement) {
	c.dirty = c.dirty || j.Learned
	switch {
	case j.Anomalous:
		c.m.anomalous.Inc()
	case j.Phase == profile.Learning:
		c.m.learning.Inc()
	default:
		c.m.benign.Inc()
	}
	if f, fire := c.alarm.Add(c.w.Identity, j); fire {
		a.flag(c, f)
	}
}

// flag acts on a finding once per workload: isolation at once, the
// verdict off the reader loop (a slow authorizer must not stall collection).
func (a *Agent) flag(c *watched, f detect.Finding) {
	a.mu.Lock()
	already := a.flagged[c.w.Identity]
	a.flagged[c.w.Identity] = true
	a.mu.Unlock()
	if already {
		return
	}
	if a.opts.Isolator != nil {
		if err := a.opts.Isolator.Isolate(c.w.CgroupDir); err != nil {
			a.m.isolated.WithLabelValues("failed").Inc()
			a.log.Error().Err(err).Str("workload", c.w.Identity).Msg("kernel isolation failed")
		} else {
			a.m.isolated.WithLabelValues("isolated").Inc()
			a.log.Warn().Str("workload", c.w.Identity).Str("cgroup", c.w.CgroupDir).Msg("container isolated in the kernel")
		}
	}
	go a.report(f, c.w)
}

func (a *Agent) report(f detect.Finding, w Workload) {
	epoch, err := a.reporter.Report(a.ctx, &verdictv1.Verdict{
		Workload: f.Workload, Reason: f.Reason, Score: f.Score, Evidence: f.Evidence, Container: w.Container + "@" + w.Image,
	})
	if err != nil {
		a.m.verdicts.WithLabelValues(f.Reason, "failed").Inc()
		a.log.Error().Err(err).Str("workload", f.Workload).Msg("verdict not delivered")
		a.mu.Lock()
		delete(a.flagged, w.Identity) // so that the next finding tries again
		a.mu.Unlock()
		a.shell.Reset(f.Workload)
		return
	}
	a.m.verdicts.WithLabelValues(f.Reason, "sent").Inc()
	a.log.Warn().Str("workload", f.Workload).Str("reason", f.Reason).Float64("score", f.Score).
		Strs("evidence", f.Evidence).Uint64("epoch", epoch).Msg("verdict sent")
}
