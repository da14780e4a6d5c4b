package ngram

import "testing"

func TestScore(t *testing.T) {
	m := New(3)
	m.Train([]uint32{1, 2, 3, 1, 2, 3, 1, 2, 3, 4})
	if m.Len() != 4 { // 123 231 312 234
		t.Fatalf("%d n-grams, want 4", m.Len())
	}
	for _, tc := range []struct {
		w    []uint32
		want float64
	}{
		{[]uint32{1, 2, 3, 1, 2}, 0}, // common
		{[]uint32{2, 3, 4}, 0.5},     // seen once: rare
		{[]uint32{9, 9, 9, 9}, 1},    // unseen
		{[]uint32{1, 2, 3, 9}, 0.5},  // one of two unseen
		{[]uint32{1, 2}, 0},          // too short
	} {
		if got := m.Score(tc.w); got != tc.want {
			t.Errorf("Score(%v) = %v, want %v", tc.w, got, tc.want)
		}
	}
	if at := m.Novel([]uint32{1, 2, 3, 9, 9}); len(at) != 2 || at[0] != 1 {
		t.Fatalf("novel at %v", at)
	}
	long := New(6)
	long.Train([]uint32{1, 2, 3, 4, 5, 6, 7})
	if long.Score([]uint32{1, 2, 3, 4, 5, 6}) != 0.5 || long.Score([]uint32{2, 3, 4, 5, 6, 8}) != 1 {
		t.Fatal("n > 4 keys")
	}
}

func TestSurprise(t *testing.T) {
	m := New(3)
	for i := 0; i < 50; i++ {
		m.Train([]uint32{1, 2, 3, 1, 2, 3})
	}
	m.Train([]uint32{7, 8, 9})
	common, rare, unseen := m.Surprise([]uint32{1, 2, 3, 1}), m.Surprise([]uint32{7, 8, 9}), m.Surprise([]uint32{5, 5, 5})
	if !(common < rare && rare < unseen) || unseen != 1 || common > 0.3 {
		t.Fatalf("common %v, rare %v, unseen %v", common, rare, unseen)
	}
	if m.Surprise([]uint32{1, 2}) != 0 || New(3).Surprise([]uint32{1, 2, 3}) != 0 {
		t.Fatal("a window without n-grams, or an empty model, scores")
	}
}
