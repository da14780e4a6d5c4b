package recon

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"
)

// Cell is the share of found sockets still answering, for one rotation
// interval, one scanner and one delay, over every scan.
type Cell struct {
	Interval  time.Duration `json:"interval"`
	Scanner   string        `json:"scanner"`
	Delta     time.Duration `json:"delta"`
	Samples   int           `json:"samples"`
	Found     int           `json:"found"`
	Answering int           `json:"answering"`
	Share     *float64      `json:"share"` // nil when nothing was found
	Model     float64       `json:"model"` // max(0, 1 - Δ/T): a uniform phase, no return to a socket
}

// Model is the share expected still answering Δ after a scan made at a
// uniformly random phase of a rotation every T: the socket is still there
// unless a move came in between, and a move comes within Δ with
// probability Δ/T. Chance returns to a socket add to it.
func Model(t, delta time.Duration) float64 {
	if t <= 0 {
		return 0
	}
	return max(0, 1-float64(delta)/float64(t))
}

// Summarize adds up the samples per interval, scanner and delay, sorted
// in that order.
func Summarize(samples []Sample) []Cell {
	type key struct {
		iv, d time.Duration
		s     string
	}
	cells := map[key]*Cell{}
	for _, s := range samples {
		k := key{s.Interval, s.Delta, s.Scanner}
		c := cells[k]
		if c == nil {
			c = &Cell{Interval: s.Interval, Scanner: s.Scanner, Delta: s.Delta, Model: Model(s.Interval, s.Delta)}
			cells[k] = c
		}
		c.Samples++
		c.Found += s.Found
		c.Answering += s.Answering
	}
	out := make([]Cell, 0, len(cells))
	for _, c := range cells {
		if c.Found > 0 {
			share := float64(c.Answering) / float64(c.Found)
			c.Share = &share
		}
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b Cell) int {
		return cmp.Or(cmp.Compare(a.Interval, b.Interval), cmp.Compare(a.Scanner, b.Scanner), cmp.Compare(a.Delta, b.Delta))
	})
	return out
}

// Find is the cell of interval, scanner and delay.
func Find(cells []Cell, interval time.Duration, scanner string, delta time.Duration) (Cell, bool) {
	for _, c := range cells {
		if c.Interval == interval && c.Scanner == scanner && c.Delta == delta {
			return c, true
		}
	}
	return Cell{}, false
}

// WriteCSV writes one row per cell; the share is empty where nothing was
// found.
func WriteCSV(w io.Writer, cells []Cell) error {
	cw := csv.NewWriter(w)
	rows := [][]string{{"interval_s", "scanner", "delta_s", "samples", "found", "answering", "share", "model"}}
	for _, c := range cells {
		share := ""
		if c.Share != nil {
			share = strconv.FormatFloat(*c.Share, 'f', 4, 64)
		}
		rows = append(rows, []string{secs(c.Interval), c.Scanner, secs(c.Delta), strconv.Itoa(c.Samples),
			strconv.Itoa(c.Found), strconv.Itoa(c.Answering), share, strconv.FormatFloat(c.Model, 'f', 4, 64)})
	}
	if err := cw.WriteAll(rows); err != nil {
		return fmt.Errorf("recon: writing the CSV: %w", err)
	}
	return nil
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }
