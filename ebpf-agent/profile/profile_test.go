package profile

import (
	"bytes"
	"strings"
	"testing"
)

// loop is a service's steady behaviour: accept, read, write, close, wait.
func loop(n int) []uint32 {
	var s []uint32
	for i := 0; i < n; i++ {
		s = append(s, 43, 0, 1, 3, 232)
	}
	return s
}

var shell = []uint32{59, 12, 9, 21, 257, 5, 9, 3, 257, 0, 5, 9, 10, 158, 218, 273, 334, 302, 57, 61}

func feed(p *Profile, pid uint32, seq []uint32) (js []Judgement) {
	for _, nr := range seq {
		if j, ok := p.Observe(pid, nr); ok {
			js = append(js, j)
		}
	}
	return js
}

func TestLearnThenDetect(t *testing.T) {
	p := New(Config{N: 3, Window: 10, Threshold: 0.05, Learn: 4})
	js := feed(p, 1, loop(8)) // 40 calls: 4 windows
	if len(js) != 4 || p.Phase() != Detecting || p.Stats().Learned != 4 {
		t.Fatalf("after 4 windows: %d judgements, phase %v, stats %+v", len(js), p.Phase(), p.Stats())
	}
	for _, j := range js {
		if j.Anomalous || !j.Learned {
			t.Fatalf("a learning window was judged: %+v", j)
		}
	}
	if js := feed(p, 2, loop(4)); len(js) != 2 || js[0].Anomalous || js[0].Score != 0 || !js[0].Learned {
		t.Fatalf("normal window: %+v", js)
	}
	js = feed(p, 3, shell[:10])
	if len(js) != 1 || !js[0].Anomalous || js[0].Score != 1 || js[0].Learned || len(js[0].Window) != 10 {
		t.Fatalf("shell window: %+v", js)
	}
	if j, ok := p.Exit(3); ok { // nothing open for pid 3
		t.Fatalf("exit judged an empty window: %+v", j)
	}
	feed(p, 3, shell[10:12])
	if _, ok := p.Exit(3); ok { // 2 calls hold no 3-gram
		t.Fatal("exit judged a window shorter than n")
	}
	feed(p, 3, shell[12:])
	if j, ok := p.Exit(3); !ok || !j.Anomalous || p.Open() != 2 { // pids 1 and 2
		t.Fatalf("exit: %+v %v, %d open", j, ok, p.Open())
	}
	if s := p.Stats(); s.Judged != 4 || s.Anomalous != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// Benign windows teach the model; anomalous ones do not; frozen profiles
// learn nothing once detecting.
func TestContinuousLearning(t *testing.T) {
	base := []uint32{43, 0, 1, 3, 232, 43, 0, 1, 3, 232, 43, 0, 1, 3, 232, 43, 0, 1, 3, 232}
	variant := append(append([]uint32(nil), base[:19]...), 7) // one new 3-gram at the end
	for _, frozen := range []bool{false, true} {
		p := New(Config{N: 3, Window: 20, Threshold: 0.1, Learn: 1, Frozen: frozen})
		feed(p, 1, base)
		j := feed(p, 1, variant)[0]
		if j.Anomalous {
			t.Fatalf("frozen=%v: a window with 1 of 18 n-grams new is anomalous (%v)", frozen, j.Score)
		}
		again := feed(p, 1, variant)[0]
		if learned := again.Score == 0.5/18; learned == frozen { // the new n-gram is now rare, not unseen
			t.Errorf("frozen=%v: second score %v", frozen, again.Score)
		}
		before := p.NGrams()
		feed(p, 2, shell)
		if p.NGrams() != before {
			t.Errorf("frozen=%v: an anomalous window was learned", frozen)
		}
	}
}

func TestSuccessorDetectsAtOnce(t *testing.T) {
	p := New(Config{N: 3, Window: 10, Threshold: 0.15, Learn: 2})
	feed(p, 1, loop(4))
	had := p.NGrams()
	next := p.Successor()
	if next.Phase() != Detecting || next.NGrams() != p.NGrams() {
		t.Fatalf("successor phase %v, %d n-grams (predecessor %d)", next.Phase(), next.NGrams(), p.NGrams())
	}
	if js := feed(next, 1, shell[:10]); len(js) != 1 || !js[0].Anomalous {
		t.Fatalf("successor missed the shell: %+v", js)
	}
	feed(next, 1, []uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) // anomalous: not learned
	feed(next, 2, append(loop(1), 43, 0, 1, 3, 99))        // benign (1 new of 8): learned
	if next.NGrams() == p.NGrams() {
		t.Fatal("the successor learned nothing")
	}
	if p.NGrams() != had {
		t.Fatalf("the successor's learning changed its predecessor (%d n-grams)", p.NGrams())
	}
}

func TestEncoding(t *testing.T) {
	cfg := Config{N: 3, Window: 10, Threshold: 0.05, Learn: 2}
	p := New(cfg)
	feed(p, 1, loop(6))
	feed(p, 2, shell[:10])
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	q, err := Decode(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if q.Phase() != p.Phase() || q.Stats() != p.Stats() || q.NGrams() != p.NGrams() {
		t.Fatalf("decoded %v %+v %d, want %v %+v %d", q.Phase(), q.Stats(), q.NGrams(), p.Phase(), p.Stats(), p.NGrams())
	}
	if js := feed(q, 3, shell[:10]); len(js) != 1 || !js[0].Anomalous {
		t.Fatal("the restored profile does not detect")
	}
	cfg6 := cfg
	cfg6.N = 6
	bad := func(off int, v byte) []byte { c := bytes.Clone(b); c[off] = v; return c }
	for _, tc := range []struct {
		in   []byte
		cfg  Config
		want string
	}{
		{b[:10], cfg, "not a stored profile"},
		{bad(4, 2), cfg, "byte 4: format version 2"},
		{bad(5, 7), cfg, "byte 5: phase 7"},
		{b[:40], cfg, "model at byte 30"},
		{b, cfg6, "stored model has 3-grams, the agent is configured for 6-grams"},
	} {
		if _, err := Decode(tc.in, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode: %v, want %q", err, tc.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	cfg := Config{N: 3, Window: 10, Threshold: 0.05, Learn: 2}
	p := New(cfg)
	feed(p, 1, loop(6))
	b, _ := p.MarshalBinary()
	f.Add(b)
	f.Fuzz(func(t *testing.T, in []byte) {
		q, err := Decode(in, cfg)
		if err != nil {
			return
		}
		feed(q, 1, shell) // a decoded profile works
		if _, err := q.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{DefaultConfig(), ""},
		{Config{N: 1, Window: 10}, "n-gram length 1"},
		{Config{N: 6, Window: 5}, "window 5 is shorter"},
		{Config{N: 6, Window: 100, Threshold: 1}, "threshold 1"},
		{Config{N: 6, Window: 100, Learn: -1}, "learning period -1"},
	} {
		err := tc.cfg.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
