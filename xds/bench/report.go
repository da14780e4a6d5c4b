package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
	"time"
)

// Report is one run's figures.
type Report struct {
	Mode               Mode
	Clients, Rotations int
	// Ramp is from starting the clients to the last one's ACK of every type.
	Ramp                 time.Duration
	RampCPU, RotationCPU phaseCPU
	// Memory before the clients connected and once they all had the
	// initial version (server and clients together).
	MemBefore, MemAfterRamp memory
	InitialVersion          string
	Rounds                  []Rotation
	// History is each client's ACKed EDS versions, in order.
	History [][]string
}

// Rotation is one Move and what it took every client to ACK it.
type Rotation struct {
	Version, Endpoints string
	Move               time.Duration   // the Move call: placement and snapshot set
	Convergence        []time.Duration // per client: from the Move call to its ACK
}

// Last is when the last client ACKed.
func (r Rotation) Last() time.Duration { return slices.Max(r.Convergence) }

// Convergence is every client's convergence of every rotation, sorted.
func (r *Report) Convergence() []time.Duration {
	var all []time.Duration
	for _, rot := range r.Rounds {
		all = append(all, rot.Convergence...)
	}
	slices.Sort(all)
	return all
}

// Lasts is each rotation's Last, sorted.
func (r *Report) Lasts() []time.Duration {
	out := make([]time.Duration, len(r.Rounds))
	for i, rot := range r.Rounds {
		out[i] = rot.Last()
	}
	slices.Sort(out)
	return out
}

// Moves is each rotation's Move, sorted.
func (r *Report) Moves() []time.Duration {
	out := make([]time.Duration, len(r.Rounds))
	for i, rot := range r.Rounds {
		out[i] = rot.Move
	}
	slices.Sort(out)
	return out
}

// Quantile is the nearest-rank q-quantile of sorted durations (0 for none).
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// PerClient divides a phase's figure by the clients.
func (r *Report) PerClient(d time.Duration) time.Duration { return d / time.Duration(r.Clients) }

// HeapPerClient and RSSPerClient are the growth from before the clients
// connected to after the ramp, per client (negative if memory shrank).
func (r *Report) HeapPerClient() float64 {
	return (float64(r.MemAfterRamp.Heap) - float64(r.MemBefore.Heap)) / float64(r.Clients)
}

func (r *Report) RSSPerClient() float64 {
	return (float64(r.MemAfterRamp.RSS) - float64(r.MemBefore.RSS)) / float64(r.Clients)
}

// Share is side's fraction of a phase's profiled CPU; false without a profile.
func (p phaseCPU) Share(side string) (float64, bool) {
	var total time.Duration
	for _, d := range p.Shares {
		total += d
	}
	if total == 0 {
		return 0, false
	}
	return float64(p.Shares[side]) / float64(total), true
}

// GoalClients and GoalP99: "p99 ≤ 1 s at 1,000 clients".
const (
	GoalClients = 1000
	GoalP99     = time.Second
)

// Goal says whether the first report of GoalClients clients met GoalP99.
func Goal(reps []*Report) (measured, met bool, p99 time.Duration) {
	for _, r := range reps {
		if r.Clients == GoalClients {
			p99 = Quantile(r.Convergence(), 0.99)
			return true, p99 <= GoalP99, p99
		}
	}
	return false, false, 0
}

// Print writes the tables of reports (one row each).
func Print(w io.Writer, reps []*Report) {
	t := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "Convergence: from the Move call to each client's ACK of the new EDS version (every client × every rotation)")
	fmt.Fprintln(t, "mode\tclients\trotations\tramp\tp50\tp90\tp99\tmax\tlast ACK p50\tlast ACK max\tMove p50\t")
	for _, r := range reps {
		c, l, m := r.Convergence(), r.Lasts(), r.Moves()
		fmt.Fprintf(t, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Mode, r.Clients, r.Rotations, ms(r.Ramp),
			ms(Quantile(c, 0.5)), ms(Quantile(c, 0.9)), ms(Quantile(c, 0.99)), ms(Quantile(c, 1)),
			ms(Quantile(l, 0.5)), ms(Quantile(l, 1)), ms(Quantile(m, 0.5)))
	}
	t.Flush()
	fmt.Fprintln(w, "\nCPU (process user+sys, getrusage) and memory per client; server and clients share the process:"+
		"\nthe server's share of CPU is from a CPU profile labelled by side (the clients' and the bench's likewise; GC: the runtime's own background workers)")
	fmt.Fprintln(t, "mode\tclients\tCPU/client ramp\tserver/clients/GC\tCPU/client all rotations\tper rotation\tserver/clients/GC\theap/client\tRSS/client\t")
	for _, r := range reps {
		fmt.Fprintf(t, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Mode, r.Clients, us(r.PerClient(r.RampCPU.Total)),
			share(r.RampCPU), us(r.PerClient(r.RotationCPU.Total)),
			us(r.PerClient(r.RotationCPU.Total)/time.Duration(r.Rotations)), share(r.RotationCPU),
			kib(r.HeapPerClient()), kib(r.RSSPerClient()))
	}
	t.Flush()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }
func kib(b float64) string      { return fmt.Sprintf("%.1f KiB", b/1024) }

// share is the server's / the clients' / the runtime's part of p's CPU.
func share(p phaseCPU) string {
	srv, ok := p.Share(sideServer)
	if !ok {
		return "n/a"
	}
	cl, _ := p.Share(sideClient)
	rt, _ := p.Share("")
	return fmt.Sprintf("%.0f/%.0f/%.0f %%", 100*srv, 100*cl, 100*rt)
}
