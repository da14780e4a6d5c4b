// Package evaluation scores labelled traces with the agent's profile and reports
// window- and trace-level precision, recall, F1 and ROC-AUC, as
// `ebpf-agent eval` prints them.
package evaluation

import (
	"math"
	"sort"

	"github.com/meshward/meshward/ebpf-agent/profile"
	"github.com/meshward/meshward/ebpf-agent/trace"
)

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
		N             int     `json:"n"`
		Window        int     `json:"window"`
		Threshold     float64 `json:"threshold"`
		Online        bool    `json:"online"` // benign windows were learned while scoring
		NGrams        int     `json:"ngrams"`
		TrainTraces   int     `json:"train_traces"`
		TrainWindows  uint64  `json:"train_windows"`
		NormalTraces  int     `json:"normal_traces"`
		AttackTraces  int     `json:"attack_traces"`
		LearnedOnline uint64  `json:"learned_online"`
	} `json:"model"`
}

type scored struct {
	score    float64
	positive bool
}

// Run is the agent's profile offline: it learns the train traces (the
// learning phase), then judges the normal (negative) and attack (positive)
// traces window by window, interleaved a window at a time as concurrent
// processes would be, learning the windows it judges benign unless
// cfg.Frozen.
func Run(train, normal, attack []trace.Trace, cfg profile.Config) Result {
	cfg.Learn = math.MaxInt
	p := profile.New(cfg)
	for i, t := range train {
		for _, nr := range t.Syscalls {
			p.Observe(uint32(i), nr)
		}
		p.Exit(uint32(i))
	}
	learned := p.Stats().Learned
	p.Detect()
	all := append(append([]trace.Trace(nil), normal...), attack...)
	best := make([]float64, len(all))
	var windows []scored
	record := func(j profile.Judgement) {
		windows = append(windows, scored{j.Score, int(j.PID) >= len(normal)})
		best[j.PID] = max(best[j.PID], j.Score)
	}
	for off := 0; ; off += cfg.Window {
		more := false
		for i, t := range all {
			if off >= len(t.Syscalls) {
				continue
			}
			more = true
			for _, nr := range t.Syscalls[off:min(off+cfg.Window, len(t.Syscalls))] {
				if j, ok := p.Observe(uint32(i), nr); ok {
					record(j)
				}
			}
			if off+cfg.Window >= len(t.Syscalls) {
				if j, ok := p.Exit(uint32(i)); ok {
					record(j)
				}
			}
		}
		if !more {
			break
		}
	}
	traces := make([]scored, len(all))
	for i := range all {
		traces[i] = scored{best[i], i >= len(normal)}
	}
	var r Result
	r.Window, r.Trace = judge(windows, cfg.Threshold), judge(traces, cfg.Threshold)
	m := &r.Model
	m.N, m.Window, m.Threshold, m.Online, m.NGrams = cfg.N, cfg.Window, cfg.Threshold, !cfg.Frozen, p.NGrams()
	m.TrainTraces, m.TrainWindows, m.NormalTraces, m.AttackTraces = len(train), learned, len(normal), len(attack)
	m.LearnedOnline = p.Stats().Learned - learned
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
