package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/meshward/meshward/e2e/recon"
	"github.com/meshward/meshward/e2e/system"
	"github.com/meshward/meshward/internal/machine"
)

// report is what the run found, as printed and as written to OUT.json.
type report struct {
	Started   time.Time       `json:"started"`
	Load      string          `json:"load_average"`
	Pools     string          `json:"pools"`
	Scans     int             `json:"scans"`
	ScanEvery time.Duration   `json:"scan_every"`
	Runs      []runReport     `json:"runs"`
	Cells     []recon.Cell    `json:"cells"`
	Samples   []recon.Sample  `json:"samples"`
	Unowned   int             `json:"unowned"`
	Scanners  []string        `json:"scanners"`
	Deltas    []time.Duration `json:"deltas"`
}

type runReport struct {
	Interval   time.Duration `json:"interval"`
	Moves      float64       `json:"timed_moves"`
	Calls      int           `json:"legitimate_calls"`
	Failed     int           `json:"failed"`
	FirstError string        `json:"first_error,omitempty"`
	Sockets    int           `json:"sockets_called"`
}

func newReport(o options, runs []*system.SidecarXDS, scanners []recon.Scanner, res recon.Result) *report {
	r := &report{Started: time.Now(), Load: machine.LoadAverage(), Scans: o.scans, ScanEvery: o.scanEvery,
		Pools: fmt.Sprintf("%d ports × %d addresses", o.ports-1, max(o.addrs-1, 1)), Cells: recon.Summarize(res.Samples),
		Samples: res.Samples, Unowned: res.Unowned, Deltas: o.deltas}
	for _, s := range scanners {
		r.Scanners = append(r.Scanners, s.Name())
	}
	for i, x := range runs {
		moves, err := x.Metric("meshward_xds_rotations_total", `trigger="timer"`)
		if err != nil {
			moves = -1
		}
		x.Callers.Stop()
		c := x.Callers.Report()
		rr := runReport{Interval: o.intervals[i], Moves: moves, Calls: c.Calls, Failed: c.Failed, Sockets: len(c.BySocket)}
		if c.FirstError != nil {
			rr.FirstError = c.FirstError.Error()
		}
		r.Runs = append(r.Runs, rr)
	}
	return r
}

func (r *report) failed() bool {
	for _, rr := range r.Runs {
		if rr.Failed > 0 {
			return true
		}
	}
	return false
}

// write saves OUT.png, OUT.csv and OUT.json.
func (r *report) write(out string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := recon.Plot(r.Cells, out+".png"); err != nil {
		return err
	}
	f, err := os.Create(out + ".csv")
	if err != nil {
		return err
	}
	if err := recon.WriteCSV(f, r.Cells); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(out+".json", append(b, '\n'), 0o644)
}

// print writes one block per interval: the runs' moves and calls, then per
// scanner the share still answering at each Δ (answering/found), and the
// model.
func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "reconnaissance half-life: %d scans every %v by %s; pools %s each; load average %s\n",
		r.Scans, r.ScanEvery, strings.Join(r.Scanners, " and "), r.Pools, r.Load)
	head := fmt.Sprintf("%-8s %-8s", "T", "scanner")
	for _, d := range r.Deltas {
		head += fmt.Sprintf(" %-16s", "Δ="+d.String())
	}
	fmt.Fprintln(w, head)
	for _, rr := range r.Runs {
		for _, s := range r.Scanners {
			line := fmt.Sprintf("%-8v %-8s", rr.Interval, s)
			for _, d := range r.Deltas {
				line += fmt.Sprintf(" %-16s", cellText(r.Cells, rr.Interval, s, d))
			}
			fmt.Fprintln(w, line)
		}
		line := fmt.Sprintf("%-8v %-8s", rr.Interval, "model")
		for _, d := range r.Deltas {
			line += fmt.Sprintf(" %-16s", fmt.Sprintf("%.2f", recon.Model(rr.Interval, d)))
		}
		fmt.Fprintln(w, line)
		fmt.Fprintf(w, "         %v timed moves; legitimate calls %d on %d sockets, %d failed%s\n",
			rr.Moves, rr.Calls, rr.Sockets, rr.Failed, firstError(rr))
	}
	for _, s := range r.Scanners {
		fmt.Fprintf(w, "%s: a scan took %s\n", s, r.scanTimes(s))
	}
	if r.Unowned > 0 {
		fmt.Fprintf(w, "(%d found sockets held by no orders: other listeners on the scanned ports, not counted)\n", r.Unowned)
	}
}

// scanTimes is the median and longest scan of scanner.
func (r *report) scanTimes(scanner string) string {
	var ds []time.Duration
	for _, s := range r.Samples {
		if s.Scanner == scanner {
			ds = append(ds, s.Took)
		}
	}
	if len(ds) == 0 {
		return "-"
	}
	slices.Sort(ds)
	return fmt.Sprintf("%v median, %v at most", ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
}

func cellText(cells []recon.Cell, iv time.Duration, scanner string, d time.Duration) string {
	c, ok := recon.Find(cells, iv, scanner, d)
	if !ok || c.Share == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f (%d/%d)", *c.Share, c.Answering, c.Found)
}

func firstError(rr runReport) string {
	if rr.FirstError == "" {
		return ""
	}
	return " (first: " + rr.FirstError + ")"
}
