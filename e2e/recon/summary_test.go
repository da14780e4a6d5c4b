package recon

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestModel(t *testing.T) {
	for _, c := range []struct {
		t, d time.Duration
		want float64
	}{
		{10 * time.Second, 0, 1},
		{300 * time.Second, 60 * time.Second, 0.8},
		{60 * time.Second, 60 * time.Second, 0},
		{10 * time.Second, 300 * time.Second, 0},
		{0, time.Second, 0},
	} {
		if got := Model(c.t, c.d); got != c.want {
			t.Errorf("Model(%v, %v) = %v, want %v", c.t, c.d, got, c.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	s := time.Second
	samples := []Sample{
		{Interval: 10 * s, Scanner: "nmap", Delta: 0, Found: 1, Answering: 1},
		{Interval: 10 * s, Scanner: "connect", Delta: 60 * s, Found: 2, Answering: 1},
		{Interval: 10 * s, Scanner: "connect", Delta: 60 * s, Found: 1, Answering: 0},
		{Interval: 2 * s, Scanner: "connect", Delta: 0, Found: 0, Answering: 0},
	}
	cells := Summarize(samples)
	var b bytes.Buffer
	if err := WriteCSV(&b, cells); err != nil {
		t.Fatal(err)
	}
	want := `interval_s,scanner,delta_s,samples,found,answering,share,model
2,connect,0,1,0,0,,1.0000
10,connect,60,2,3,1,0.3333,0.0000
10,nmap,0,1,1,1,1.0000,1.0000
`
	if b.String() != want {
		t.Errorf("CSV:\n%s\nwant:\n%s", b.String(), want)
	}
	if c, ok := Find(cells, 10*s, "connect", 60*s); !ok || c.Samples != 2 || *c.Share != 1.0/3 {
		t.Errorf("Find: %+v %v", c, ok)
	}
	if _, ok := Find(cells, 10*s, "connect", 10*s); ok {
		t.Error("Find found a cell that was never measured")
	}
}

// Measure with real listeners: what each scan found is still there when it
// is probed again at once, a closed port is never found, and sockets no
// service owns are counted apart.
func TestMeasureCountsWhatItFound(t *testing.T) {
	_, open, closed := listen(t, 3)
	owner := func(s netip.AddrPort) (time.Duration, bool) {
		return time.Duration(1+int(s.Port())%2) * time.Second, s != open[2]
	}
	p := Plan{Addrs: []netip.Addr{lo1}, Ports: portsOf(append(open, closed)...), Scanners: []Scanner{Connect{}},
		Deltas: []time.Duration{0}, Scans: 3, Intervals: []time.Duration{time.Second, 2 * time.Second}, Owner: owner}
	res, err := Measure(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if res.Unowned != 3 {
		t.Errorf("%d unowned sockets found, want 3 (one per scan)", res.Unowned)
	}
	var found, answering int
	for _, c := range Summarize(res.Samples) {
		if c.Samples != 3 {
			t.Errorf("%+v: want 3 samples", c)
		}
		found, answering = found+c.Found, answering+c.Answering
	}
	if found != 6 || answering != 6 {
		t.Errorf("found %d, answering %d: want 6 and 6 (two owned sockets, three scans)", found, answering)
	}
}

// A scanner that fails ends the measurement with an error that says which
// scan and which scanner.
func TestMeasureStopsAtAScanError(t *testing.T) {
	p := Plan{Addrs: []netip.Addr{lo1}, Ports: []uint16{22}, Scanners: []Scanner{Nmap{Path: "/nonexistent/nmap"}},
		Deltas: []time.Duration{0}, Scans: 2, Every: time.Hour, Intervals: []time.Duration{time.Second},
		Owner: func(netip.AddrPort) (time.Duration, bool) { return time.Second, true }}
	_, err := Measure(context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), "scan 0 (nmap)") {
		t.Fatalf("Measure: %v", err)
	}
	if _, err := Measure(context.Background(), Plan{}); err == nil {
		t.Fatal("an empty plan was measured")
	}
}

func TestPlotWritesAPNG(t *testing.T) {
	share := 0.5
	cells := []Cell{{Interval: 10 * time.Second, Scanner: "connect", Delta: 0, Found: 2, Answering: 2, Share: new(float64)},
		{Interval: 10 * time.Second, Scanner: "connect", Delta: 5 * time.Second, Found: 2, Answering: 1, Share: &share},
		{Interval: 10 * time.Second, Scanner: "nmap", Delta: 5 * time.Second}}
	*cells[0].Share = 1
	path := filepath.Join(t.TempDir(), "half-life.png")
	if err := Plot(cells, path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) || len(b) < 10000 {
		t.Fatalf("%s: %d bytes, not a plot", path, len(b))
	}
}
