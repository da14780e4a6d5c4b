// Package profile learns a container's normal system calls online and judges
// them window by window. A profile belongs to one version (image digest) of
// one container: it learns for a while, then detects, and goes on learning
// from the windows it judges benign. A new version starts from its
// predecessor's model and detects from its first window, so an image update
// opens no blind learning period. It knows nothing of eBPF or of storage.
package profile

import (
	"fmt"

	"github.com/meshward/meshward/ebpf-agent/ngram"
)

// Config is how windows are cut and judged.
type Config struct {
	N         int     // n-gram length (2 to 8)
	Window    int     // system calls per window, per process
	Threshold float64 // a window scoring above it is anomalous
	Learn     int     // windows a new container learns before it detects
	Frozen    bool    // no learning once detecting (the offline baseline)
	Scorer    Scorer  // how a window scores (default STIDE)
}

// Scorer names how a window's n-grams make its score.
type Scorer string

const (
	// STIDE scores the share of n-grams unseen (1) or rare (0.5).
	STIDE Scorer = "stide"
	// Surprise scores their mean negative log-probability, scaled to 0..1.
	Surprise Scorer = "surprise"
)

// DefaultConfig is what the agent runs with unless told otherwise.
func DefaultConfig() Config { return Config{N: 6, Window: 100, Threshold: 0.1, Learn: 2000} }

// Validate says what is wrong with a configuration.
func (c Config) Validate() error {
	switch {
	case c.N < 2 || c.N > 8:
		return fmt.Errorf("profile: n-gram length %d, want 2 to 8", c.N)
	case c.Window < c.N:
		return fmt.Errorf("profile: window %d is shorter than the n-gram length %d", c.Window, c.N)
	case c.Window > 1<<16:
		return fmt.Errorf("profile: window %d, want at most 65536", c.Window)
	case c.Threshold < 0 || c.Threshold >= 1:
		return fmt.Errorf("profile: threshold %v, want 0 to 1", c.Threshold)
	case c.Learn < 0:
		return fmt.Errorf("profile: learning period %d windows, want 0 or more", c.Learn)
	case c.Scorer != "" && c.Scorer != STIDE && c.Scorer != Surprise:
		return fmt.Errorf("profile: scorer %q, want %s or %s", c.Scorer, STIDE, Surprise)
	}
	return nil
}

// Phase is where a profile is in its life.
type Phase uint8

const (
	Learning  Phase = iota // every window is learned; nothing is judged
	Detecting              // windows are judged; benign ones are learned
)

func (p Phase) String() string {
	if p == Learning {
		return "learning"
	}
	return "detecting"
}

// Judgement is what a profile says of one window of one thread (or
// process: the caller names the stream).
type Judgement struct {
	PID       uint32
	Phase     Phase   // the phase it was judged in
	Score     float64 // share of the window's n-grams that are unseen (1) or rare (0.5)
	Anomalous bool
	Learned   bool     // its n-grams went into the model
	Window    []uint32 // the window itself, kept only when anomalous (evidence)
}

// Stats count what a profile has judged.
type Stats struct {
	Learned   uint64 // windows learned
	Judged    uint64 // windows judged while detecting
	Anomalous uint64
}

// Profile is one container version's model and the open windows of its
// processes. It is not safe for concurrent use.
type Profile struct {
	cfg     Config
	model   *ngram.Model
	phase   Phase
	stats   Stats
	streams map[uint32][]uint32
}

// New returns a profile that learns from scratch.
func New(cfg Config) *Profile {
	p := &Profile{cfg: cfg, model: ngram.New(cfg.N), streams: map[uint32][]uint32{}}
	if cfg.Learn == 0 {
		p.phase = Detecting
	}
	return p
}

// Successor returns the profile of a container's next version: its
// predecessor's model, detecting at once, learning what it judges benign.
func (p *Profile) Successor() *Profile {
	return &Profile{cfg: p.cfg, model: p.model.Clone(), phase: Detecting, streams: map[uint32][]uint32{}}
}

// Phase is the profile's phase.
func (p *Profile) Phase() Phase { return p.phase }

// Stats are the profile's counts.
func (p *Profile) Stats() Stats { return p.stats }

// NGrams is how many distinct n-grams the model holds.
func (p *Profile) NGrams() int { return p.model.Len() }

// Detect ends the learning phase now: the offline tools learn exactly their
// training traces, however many windows those hold.
func (p *Profile) Detect() { p.phase = Detecting }

// Observe adds one system call of a process and, when it completes the
// process's window, judges that window.
func (p *Profile) Observe(pid, nr uint32) (Judgement, bool) {
	w := p.streams[pid]
	if w == nil {
		w = make([]uint32, 0, p.cfg.Window)
	}
	w = append(w, nr)
	if len(w) < p.cfg.Window {
		p.streams[pid] = w
		return Judgement{}, false
	}
	p.streams[pid] = w[:0]
	return p.judge(pid, w), true
}

// Exit closes a process's stream and judges its last, partial window if it
// holds an n-gram.
func (p *Profile) Exit(pid uint32) (Judgement, bool) {
	w, ok := p.streams[pid]
	delete(p.streams, pid)
	if !ok || len(w) < p.cfg.N {
		return Judgement{}, false
	}
	return p.judge(pid, w), true
}

// Judge judges a thread's window that was gathered elsewhere (in the
// kernel): a full window, or a thread's last one, shorter. It holds no
// n-gram when shorter than N, and is then not judged.
func (p *Profile) Judge(tid uint32, w []uint32) (Judgement, bool) {
	if len(w) < p.cfg.N {
		return Judgement{}, false
	}
	return p.judge(tid, w), true
}

// Open is how many processes have a window under way.
func (p *Profile) Open() int { return len(p.streams) }

func (p *Profile) judge(pid uint32, w []uint32) Judgement {
	j := Judgement{PID: pid, Phase: p.phase, Score: p.score(w)}
	if p.phase == Learning {
		p.learn(w, &j)
		if p.stats.Learned >= uint64(p.cfg.Learn) {
			p.phase = Detecting
		}
		return j
	}
	p.stats.Judged++
	if j.Score > p.cfg.Threshold {
		p.stats.Anomalous++
		j.Anomalous = true
		j.Window = append([]uint32(nil), w...)
		return j
	}
	if !p.cfg.Frozen {
		p.learn(w, &j)
	}
	return j
}

func (p *Profile) score(w []uint32) float64 {
	if p.cfg.Scorer == Surprise {
		return p.model.Surprise(w)
	}
	return p.model.Score(w)
}

func (p *Profile) learn(w []uint32, j *Judgement) {
	p.model.Train(w)
	p.stats.Learned++
	j.Learned = true
}

// Prune closes the streams of processes that are gone without an exit
// (killed): their partial windows are dropped, unjudged.
func (p *Profile) Prune(alive func(pid uint32) bool) (dropped int) {
	for pid := range p.streams {
		if !alive(pid) {
			delete(p.streams, pid)
			dropped++
		}
	}
	return dropped
}
