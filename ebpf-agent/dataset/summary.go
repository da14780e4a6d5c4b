//go:build ignore

// summary prints `make eval-agent`'s table from the JSON that `ebpf-agent
// eval` wrote for each workload and scenario (files WORKLOAD.SCENARIO.json),
// pools the counts over workloads, and checks the goals of issue 4.
//
//	go run ebpf-agent/dataset/summary.go build/eval/*.json
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

type metrics struct {
	Precision, Recall, F1, AUC float64
	TP, FP, FN, TN             int
}

type result struct {
	Window, Trace metrics
}

func main() {
	pooled := map[string]*metrics{}
	var order []string
	fmt.Printf("%-9s %-22s | %-40s | %s\n", "workload", "scenario", "window: P R F1 AUC (tp fp fn tn)", "trace: P R AUC")
	for _, path := range os.Args[1:] {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		workload, scenario, _ := strings.Cut(name, ".")
		b, err := os.ReadFile(path)
		if err != nil {
			fail(err)
		}
		var r result
		if err := json.Unmarshal(b, &r); err != nil {
			fail(fmt.Errorf("%s: %w", path, err))
		}
		w, t := r.Window, r.Trace
		fmt.Printf("%-9s %-22s | %.3f %.3f %.3f %.3f (%d %d %d %d) | %.3f %.3f %.3f\n", workload, scenario,
			w.Precision, w.Recall, w.F1, w.AUC, w.TP, w.FP, w.FN, w.TN, t.Precision, t.Recall, t.AUC)
		p := pooled[scenario]
		if p == nil {
			p = &metrics{}
			pooled[scenario] = p
			order = append(order, scenario)
		}
		p.TP, p.FP, p.FN, p.TN = p.TP+w.TP, p.FP+w.FP, p.FN+w.FN, p.TN+w.TN
	}
	fmt.Println("pooled over workloads (window level):")
	for _, s := range order {
		p := pooled[s]
		fmt.Printf("  %-22s precision %.3f recall %.3f (tp %d fp %d fn %d tn %d)\n", s, ratio(p.TP, p.TP+p.FP), ratio(p.TP, p.TP+p.FN), p.TP, p.FP, p.FN, p.TN)
	}
	goal("base: window precision >= 0.95 at recall >= 0.90", pooled["base"], func(p *metrics) bool {
		return ratio(p.TP, p.TP+p.FP) >= 0.95 && ratio(p.TP, p.TP+p.FN) >= 0.90
	})
	goal("first round after an image update: window recall >= 0.90", pooled["update-first"], func(p *metrics) bool {
		return ratio(p.TP, p.TP+p.FN) >= 0.90
	})
}

func goal(what string, p *metrics, ok func(*metrics) bool) {
	switch {
	case p == nil:
		fmt.Printf("goal %s: not evaluated\n", what)
	case ok(p):
		fmt.Printf("goal %s: met\n", what)
	default:
		fmt.Printf("goal %s: NOT met\n", what)
	}
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "summary:", err)
	os.Exit(1)
}
