package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Print writes the report's tables.
func (r *Report) Print(w io.Writer) {
	if len(r.RoundTrips) > 0 {
		r.printRoundTrips(w)
	}
	if len(r.Cryptor) > 0 {
		r.printCryptor(w)
	}
	if r.Drops != nil {
		r.printDrops(w)
	}
	if r.Flood != nil {
		r.printFlood(w)
	}
}

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

func (r *Report) printRoundTrips(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "\n1. Round trip = encryption at the source + decryption at the destination, %d B, t=%d, %d concurrent requesters\n"+
		"   over HTTPS with mesh client certificates, roles over gRPC/mTLS on 127.0.0.1; %d rounds of %v per configuration, interleaved\n",
		c.Size, c.Deception, c.Workers, c.Rounds, c.Duration)
	t := table(w)
	fmt.Fprintln(t, "   scenario\tcipher\tsubscribers/coordinators\tmean ms\tp99 ms\tround trips/s\t÷ first row\tfailures")
	for _, row := range r.RoundTrips {
		fmt.Fprintf(t, "   %s\t%s\t%d/%d\t%s\t%s\t%.0f\t%.2f×\t%s\n", row.Scenario, row.Cipher, row.Subscribers,
			row.Coordinators, ms(row.Mean()), ms(row.Quantile(0.99)), row.Throughput(), row.Ratio, row.FailureSummary())
	}
	t.Flush()
}

func (r *Report) printCryptor(w io.Writer) {
	first := r.Cryptor[0]
	fmt.Fprintf(w, "\n2. Cryptor ÷ raw Tink AEAD on the same data (seal + open, one goroutine; %d rounds of %d ms slices,\n"+
		"   alternating which goes first): goal ≥ 0.8×\n", first.Rounds, first.Slice)
	t := table(w)
	fmt.Fprintln(t, "   cipher\tsize\tcryptor MB/s\tTink MB/s\tratio (median of rounds)\tgoal")
	for _, row := range r.Cryptor {
		fmt.Fprintf(t, "   %s\t%d KiB\t%.0f\t%.0f\t%.2f×\t%s\n", row.Cipher, row.Size>>10, row.Cryptor, row.Raw, row.Ratio,
			goal(row.Ratio >= 0.8))
	}
	t.Flush()
}

func (r *Report) printDrops(w io.Writer) {
	d := r.Drops
	fmt.Fprintf(w, "\n3. Cost of a drop ÷ a real decryption (α, %d B, t=%d; %d rounds of %d operations each, interleaved): goal ≤ 0.1×\n",
		r.Config.Size, r.Config.Deception, d.Rounds, d.Ops)
	t := table(w)
	fmt.Fprintln(t, "   drop\tcost\t÷ real decryption\tratio\tgoal")
	fake, admit := ratio(d.FakeDrop, d.RealDecrypt), ratio(d.Admit, d.HTTPSRealDecrypt)
	fmt.Fprintf(t, "   fake-only batch, coordinator (after the headers)\t%s\tcoordinator's decryption %s\t%.3f×\t%s\n",
		us(d.FakeDrop), us(d.RealDecrypt), fake, goal(fake <= 0.1))
	fmt.Fprintf(t, "   flood envelope, destination filter (Session.Admit)\t%s\tfilter's decryption over HTTPS %s\t%.4f×\t%s\n",
		us(d.Admit), us(d.HTTPSRealDecrypt), admit, goal(admit <= 0.1))
	fmt.Fprintf(t, "   flood envelope, destination filter (Session.Admit)\t%s\tcoordinator's decryption %s\t%.4f×\t\n",
		us(d.Admit), us(d.RealDecrypt), ratio(d.Admit, d.RealDecrypt))
	fmt.Fprintf(t, "   fake-only batch over HTTPS (403, transport included)\t%s\tfilter's decryption over HTTPS %s\t%.3f×\t(context)\n",
		us(d.HTTPSFakeDrop), us(d.HTTPSRealDecrypt), ratio(d.HTTPSFakeDrop, d.HTTPSRealDecrypt))
	t.Flush()
}

func (r *Report) printFlood(w io.Writer) {
	f, c := r.Flood, r.Config
	fmt.Fprintf(w, "\n4. Flood (α, aes256-gcm, %d B, t=%d): each round measures C, real messages/s of %d requesters in a closed loop\n"+
		"   (C by round: %s), then runs each phase: legitimate round trips at %.2f×C messages/s, each to finish within %v, and\n"+
		"   attackers sending fake-only batches of %d (their subscriber's t=%d) at %.1f×C fake messages/s from %d processes\n"+
		"   (at most %d open each); %d rounds of %v per phase, interleaved: goal ≥ 99 %% with the flood within 5 %% of %.1f×C or above\n",
		c.Size, c.Deception, f.Workers, rates(f.Capacities), c.LegitShare, f.Timeout, f.Messages, c.FloodDeception,
		c.FloodFactor, c.FloodProcesses, c.FloodInFlight, f.Rounds, f.Duration, c.FloodFactor)
	meanC := mean(f.Capacities)
	t := table(w)
	fmt.Fprintln(t, "   attacker\tlegitimate ok\tmean ms\tp99 ms\tlegitimate failures\tfake messages sent/s\t÷ C\tattackers got\tgoal")
	for _, p := range f.Phases {
		sent := 0.0
		if p.Attack.Elapsed > 0 {
			sent = float64((p.Attack.Failed()-p.Attack.Failures[NotSent])*f.Messages) / p.Attack.Elapsed.Seconds()
		}
		met := p.Legit.SuccessRate() >= 0.99 && (p.Name == NoFlood || sent >= 0.95*c.FloodFactor*meanC)
		fmt.Fprintf(t, "   %s\t%.2f %%\t%s\t%s\t%s\t%.0f\t%.1f\t%s\t%s\n", p.Name, 100*p.Legit.SuccessRate(), ms(p.Legit.Mean()),
			ms(p.Legit.Quantile(0.99)), p.Legit.FailureSummary(), sent, sent/meanC, p.Attack.FailureSummary(), goal(met))
	}
	t.Flush()
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func rates(xs []float64) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, fmt.Sprintf("%.0f", x))
	}
	return strings.Join(parts, ", ")
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func us(d time.Duration) string { return fmt.Sprintf("%.2f µs", float64(d)/float64(time.Microsecond)) }

func goal(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}
