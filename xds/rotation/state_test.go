package rotation

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/meshward/meshward/xds/catalog"
)

// A move half done on one planner (the dead leader) is finished on
// another (the next leader) from the recorded state: closed if it was
// announced, abandoned if not; never drawn again.
func TestAdoptAndResume(t *testing.T) {
	for _, tc := range []struct {
		name      string
		steps     []func(*Planner, Move) (*Placement, error)
		announced bool
	}{
		{"opened", []func(*Planner, Move) (*Placement, error){(*Planner).Open}, false},
		{"announced", []func(*Planner, Move) (*Placement, error){(*Planner).Open, (*Planner).Announce}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := New(testCatalog(t))
			m, err := old.Plan("orders")
			if err != nil {
				t.Fatal(err)
			}
			var last *Placement
			for _, step := range tc.steps {
				if last, err = step(old, m); err != nil {
					t.Fatal(err)
				}
			}
			b, err := json.Marshal(last.State())
			if err != nil {
				t.Fatal(err)
			}
			var st State
			if err := json.Unmarshal(b, &st); err != nil {
				t.Fatal(err)
			}
			next := New(testCatalog(t))
			got, err := next.Adopt(st)
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != last.Version || !slices.Equal(got.Serving("orders"), last.Serving("orders")) {
				t.Fatalf("adopted v%d serving %v, recorded v%d serving %v", got.Version, got.Serving("orders"), last.Version, last.Serving("orders"))
			}
			rm, announced, ok := next.Resume("orders")
			if !ok || announced != tc.announced {
				t.Fatalf("Resume: ok=%v announced=%v, want announced=%v", ok, announced, tc.announced)
			}
			if _, _, again := next.Resume("orders"); again {
				t.Fatal("a move resumed twice")
			}
			if _, err := next.Plan("orders"); !errors.Is(err, ErrMoving) {
				t.Fatalf("a new move was planned while the old one is unfinished: %v", err)
			}
			end := next.Abandon
			want := m.From
			if announced {
				end, want = next.Close, m.To
			}
			fin, err := end(rm)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(fin.Serving("orders"), want) || fin.Version != last.Version+1 {
				t.Fatalf("finished at v%d serving %v, want v%d serving %v", fin.Version, fin.Serving("orders"), last.Version+1, want)
			}
		})
	}
}

func TestAdoptRefuses(t *testing.T) {
	good := New(testCatalog(t)).Current().State()
	good.Version = 5
	for _, tc := range []struct {
		name   string
		change func(*State)
		want   string
	}{
		{"unknown service", func(s *State) { s.Endpoints["billing"] = []catalog.Endpoint{{Address: "127.0.0.1", Port: 1}} }, "billing"},
		{"missing endpoint", func(s *State) { s.Endpoints["orders"] = s.Endpoints["orders"][:1] }, "orders"},
		{"extra of another size", func(s *State) { s.Extra = map[string][]catalog.Endpoint{"fixed": {{}, {}}} }, "fixed"},
		{"announced ahead", func(s *State) { s.Announced = 9 }, "announced"},
	} {
		p := New(testCatalog(t))
		p.cur.Version = 2
		st := good
		st.Endpoints = map[string][]catalog.Endpoint{}
		for k, v := range good.Endpoints {
			st.Endpoints[k] = slices.Clone(v)
		}
		tc.change(&st)
		if _, err := p.Adopt(st); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
		if p.Current().Version != 2 {
			t.Errorf("%s: a refused placement was served", tc.name)
		}
	}
}

// A leader that lost its term adopts its successor's record: the move it
// had under way is void, and a late step of it changes nothing.
func TestAdoptVoidsMovesUnderWay(t *testing.T) {
	p := New(testCatalog(t))
	m, err := p.Plan("orders")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Open(m); err != nil {
		t.Fatal(err)
	}
	succ := New(testCatalog(t)).Current().State()
	succ.Version = 9
	if _, err := p.Adopt(succ); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Announce(m); !errors.Is(err, ErrStale) {
		t.Fatalf("a void move's step: %v, want ErrStale", err)
	}
	if cur := p.Current(); cur.Version != 9 || len(cur.Serving("orders")) != 2 {
		t.Fatalf("serving v%d %v after a void step", cur.Version, cur.Serving("orders"))
	}
	if _, err := p.Plan("orders"); err != nil {
		t.Fatalf("the service cannot move again: %v", err)
	}
}
