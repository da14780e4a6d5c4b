// Package evaluation scores labelled traces with an n-gram model and reports
// window- and trace-level precision, recall, F1 and ROC-AUC, as
// `ebpf-agent eval` prints them.
package evaluation

import (
	"sort"

	"github.com/meshward/meshward/ebpf-agent/ngram"
	"github.com/meshward/meshward/ebpf-agent/trace"
)

// Config is how traces are cut and judged.
type Config struct {
	Window    int     // syscalls per window
	N         int     // n-gram length
	Threshold float64 // a window scoring above it is anomalous
}

// Metrics are one level's figures.
type Metrics struct {
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	AUC       float64 `json:"auc"`
	TP        int     `json:"tp"`
	FP        int     `json:"fp"`
	FN        int     `json:"fn"`
	TN        int     `json:"tn"`
}

// Result is what eval prints.
type Result struct {
	Window Metrics `json:"window"`
	Trace  Metrics `json:"trace"`
	Model  struct {
		N            int     `json:"n"`
		Window       int     `json:"window"`
		Threshold    float64 `json:"threshold"`
		NGrams       int     `json:"ngrams"`
		TrainTraces  int     `json:"train_traces"`
		NormalTraces int     `json:"normal_traces"`
		AttackTraces int     `json:"attack_traces"`
	} `json:"model"`
}

// Windows cuts a trace into consecutive windows; a last window shorter than
// n is dropped, since it holds no n-gram.
func Windows(seq []uint32, size, n int) [][]uint32 {
	var out [][]uint32
	for i := 0; i < len(seq); i += size {
		w := seq[i:min(i+size, len(seq))]
		if len(w) >= n {
			out = append(out, w)
		}
	}
	return out
}

type scored struct {
	score    float64
	positive bool
}

// Run trains on train and scores normal (negatives) and attack (positives).
func Run(train, normal, attack []trace.Trace, cfg Config) Result {
	m := ngram.New(cfg.N)
	for _, t := range train {
		m.Train(t.Syscalls)
	}
	var windows, traces []scored
	for _, set := range []struct {
		ts       []trace.Trace
		positive bool
	}{{normal, false}, {attack, true}} {
		for _, t := range set.ts {
			best := 0.0
			for _, w := range Windows(t.Syscalls, cfg.Window, m.N()) {
				s := m.Score(w)
				windows = append(windows, scored{s, set.positive})
				best = max(best, s)
			}
			traces = append(traces, scored{best, set.positive})
		}
	}
	var r Result
	r.Window, r.Trace = judge(windows, cfg.Threshold), judge(traces, cfg.Threshold)
	r.Model.N, r.Model.Window, r.Model.Threshold, r.Model.NGrams = m.N(), cfg.Window, cfg.Threshold, m.Len()
	r.Model.TrainTraces, r.Model.NormalTraces, r.Model.AttackTraces = len(train), len(normal), len(attack)
	return r
}

func judge(ss []scored, threshold float64) Metrics {
	var m Metrics
	for _, s := range ss {
		flagged := s.score > threshold
		switch {
		case flagged && s.positive:
			m.TP++
		case flagged:
			m.FP++
		case s.positive:
			m.FN++
		default:
			m.TN++
		}
	}
	m.Precision = ratio(m.TP, m.TP+m.FP)
	m.Recall = ratio(m.TP, m.TP+m.FN)
	if m.Precision+m.Recall > 0 {
		m.F1 = 2 * m.Precision * m.Recall / (m.Precision + m.Recall)
	}
	m.AUC = auc(ss)
	return m
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// auc is the ROC-AUC by the Mann-Whitney U statistic, ties counting half.
func auc(ss []scored) float64 {
	sorted := append([]scored(nil), ss...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].score < sorted[j].score })
	var pos, neg int
	rankSum := 0.0
	for i := 0; i < len(sorted); {
		j := i
		for j < len(sorted) && sorted[j].score == sorted[i].score {
			j++
		}
		avgRank := float64(i+j+1) / 2 // ranks i+1 .. j
		for k := i; k < j; k++ {
			if sorted[k].positive {
				pos++
				rankSum += avgRank
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return 0
	}
	return (rankSum - float64(pos*(pos+1))/2) / float64(pos*neg)
}
