// Command agent-bench measures what the agent's collection costs a workload
// (`make bench-agent`, root): a getppid loop (the worst case: the cheapest
// syscall) and a 1-byte read loop, each run without tracing, with the agent
// attached and with strace, interleaved in one run. It prints slowdowns in
// wall and CPU time against the untraced baseline, events per second and
// drops. "collector" reads every call as a record of its own (as `record`
// does) and counts it; "agent" runs the whole agent as `ebpf-agent run`
// does: windows gathered per thread in the kernel, judged by the profile.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	verdictv1 "github.com/meshward/meshward/api/verdict/v1"
	"github.com/meshward/meshward/ebpf-agent/agent"
	"github.com/meshward/meshward/ebpf-agent/cgroups"
	"github.com/meshward/meshward/ebpf-agent/collector"
	"github.com/meshward/meshward/ebpf-agent/profile"
)

const workloadEnv = "MESHWARD_BENCH_WORKLOAD"

func main() {
	if w := os.Getenv(workloadEnv); w != "" {
		os.Exit(workload(w))
	}
	calls := flag.Int("calls", 5_000_000, "system calls per run")
	flag.IntVar(&procs, "procs", 1, "workload processes run at once, sharing the calls (more events per second)")
	rounds := flag.Int("rounds", 3, "interleaved rounds")
	flag.Parse()
	if err := run(*calls, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "agent-bench:", err)
		os.Exit(1)
	}
}

// workload is the child: "getppid:N" or "read:N".
func workload(spec string) int {
	var kind string
	var n int
	for i := range spec {
		if spec[i] == ':' {
			kind, n = spec[:i], atoi(spec[i+1:])
		}
	}
	switch kind {
	case "getppid":
		for i := 0; i < n; i++ {
			syscall.Getppid()
		}
	case "read":
		f, err := os.Open("/dev/zero")
		if err != nil {
			return 1
		}
		buf := make([]byte, 1)
		fd := int(f.Fd())
		for i := 0; i < n; i++ {
			_, _ = syscall.Read(fd, buf)
		}
	default:
		return 2
	}
	return 0
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

type sample struct {
	wall, cpu time.Duration
	events    uint64
	drops     uint64
}

// procs is how many workload processes run at once.
var procs int

func run(calls, rounds int) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (eBPF, cgroups)")
	}
	dir, id, err := cgroups.Create(fmt.Sprintf("meshward-bench-%d", os.Getpid()))
	if err != nil {
		return err
	}
	defer cgroups.Remove(dir)
	strace, _ := exec.LookPath("strace")
	modes := []string{"baseline", "collector", "agent"}
	if strace != "" {
		modes = append(modes, "strace")
	}
	fmt.Printf("agent-bench: %d calls per run in %d processes, %d interleaved rounds, cgroup %s\n", calls, procs, rounds, dir)
	for _, kind := range []string{"getppid", "read"} {
		res := map[string][]sample{}
		for r := 0; r < rounds; r++ {
			for _, m := range modes {
				n := calls
				if m == "strace" {
					n = calls / 20 // strace is two orders of magnitude slower: scale, then compare per call
				}
				s, err := once(kind, n, m, dir, id, strace)
				if err != nil {
					return fmt.Errorf("%s %s: %w", kind, m, err)
				}
				if m == "strace" {
					s.wall, s.cpu = s.wall*20, s.cpu*20
				}
				res[m] = append(res[m], s)
			}
		}
		report(kind, calls, modes, res)
	}
	return nil
}

func report(kind string, calls int, modes []string, res map[string][]sample) {
	base := median(res["baseline"])
	fmt.Printf("%s loop: baseline wall %v, CPU %v\n", kind, base.wall.Round(time.Millisecond), base.cpu.Round(time.Millisecond))
	for _, m := range modes[1:] {
		s := median(res[m])
		line := fmt.Sprintf("  %-8s wall %.2fx, CPU %.2fx", m, float64(s.wall)/float64(base.wall), float64(s.cpu)/float64(base.cpu))
		if m != "strace" {
			line += fmt.Sprintf(", %.2f M events/s, %d of %d events seen, %d drops",
				float64(s.events)/s.wall.Seconds()/1e6, s.events, calls, s.drops)
		}
		fmt.Println(line)
	}
}

func median(ss []sample) sample {
	s := slices.Clone(ss)
	slices.SortFunc(s, func(a, b sample) int { return int(a.wall - b.wall) })
	return s[len(s)/2]
}

// once runs the workload in the cgroup under one mode and measures the
// child's wall and CPU time (for the agent: plus the reader's CPU).
func once(kind string, n int, mode, dir string, id uint64, strace string) (sample, error) {
	cg, err := cgroups.Open(dir)
	if err != nil {
		return sample{}, err
	}
	defer cg.Close()
	self, _ := os.Executable()
	argv := []string{self}
	if mode == "strace" {
		argv = []string{strace, "-f", "-qq", "-o", "/dev/null", self}
	}
	cmds := make([]*exec.Cmd, procs)
	for i := range cmds {
		cmds[i] = exec.Command(argv[0], argv[1:]...)
		cmds[i].Env = append(os.Environ(), fmt.Sprintf("%s=%s:%d", workloadEnv, kind, n/procs))
		cmds[i].SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
	}

	var col *collector.Collector
	var events uint64
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var before syscall.Rusage
	traced := mode == "collector" || mode == "agent"
	if traced {
		opts := collector.Options{}
		if mode == "agent" {
			opts.Window = profile.DefaultConfig().Window // as ebpf-agent run: windows gathered in the kernel
		}
		if col, err = collector.Open(opts); err != nil {
			return sample{}, err
		}
		defer col.Close()
		src := counting{col, &events}
		run := func() error { return src.Run(ctx, func(collector.Event) {}) }
		if mode == "agent" { // the whole agent: profiles per thread, rules
			a, err := agent.New(src, []agent.Workload{{Identity: benchID, CgroupDir: dir, CgroupID: id, Container: "bench", Image: "bench"}},
				discard{}, prometheus.NewRegistry(), zerolog.Nop(), agent.Options{})
			if err != nil {
				return sample{}, err
			}
			run = func() error { return a.Run(ctx) }
		} else if err := col.Monitor(id); err != nil {
			return sample{}, err
		}
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
		go func() { done <- run() }()
	}
	start := time.Now()
	for _, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			return sample{}, err
		}
	}
	var s sample
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			return sample{}, err
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		s.cpu += tv(ru.Utime) + tv(ru.Stime)
	}
	s.wall = time.Since(start)
	if traced {
		time.Sleep(50 * time.Millisecond) // the last batch
		cancel()
		if err := <-done; err != nil {
			return sample{}, err
		}
		var after syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
		s.cpu += tv(after.Utime) - tv(before.Utime) + tv(after.Stime) - tv(before.Stime)
		s.events = events
		s.drops, _ = col.Drops()
	}
	return s, nil
}

const benchID = "spiffe://cluster.local/ns/bench/sa/loop"

// counting counts the events the collector hands over, whoever reads them.
type counting struct {
	*collector.Collector
	n *uint64
}

func (c counting) Run(ctx context.Context, fn func(collector.Event)) error {
	return c.Collector.Run(ctx, func(e collector.Event) {
		if e.Window != nil {
			*c.n += uint64(len(e.Window))
		} else {
			*c.n++
		}
		fn(e)
	})
}

type discard struct{}

func (discard) Report(context.Context, *verdictv1.Verdict) (uint64, error) { return 0, nil }

func tv(t syscall.Timeval) time.Duration {
	return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
}
