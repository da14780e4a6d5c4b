// Package ngram is a container's model of normal behaviour: the n-grams of
// its system calls, with how often each was seen (STIDE with frequencies). A
// window of calls scores by how many of its n-grams are unseen or rare. It
// knows nothing of eBPF.
package ngram

import "math"

// Model counts n-grams.
type Model struct {
	n      int
	counts map[uint64]uint32
	total  uint64 // sum of the counts
}

// New returns an empty model of n-grams (2 to 8).
func New(n int) *Model {
	return &Model{n: min(max(n, 2), 8), counts: map[uint64]uint32{}}
}

// N is the n-gram length.
func (m *Model) N() int { return m.n }

// Len is the number of distinct n-grams learned.
func (m *Model) Len() int { return len(m.counts) }

// key folds an n-gram into 64 bits: exact up to four 16-bit syscall numbers,
// mixed beyond (collisions are then possible but vanishingly rare).
func key(g []uint32) uint64 {
	var k uint64
	for _, s := range g {
		k = k<<16 | uint64(s&0xffff)
		if len(g) > 4 {
			k *= 0x9e3779b97f4a7c15
		}
	}
	return k
}

// Train learns every n-gram of seq and returns how many it had not seen.
func (m *Model) Train(seq []uint32) (added int) {
	for i := 0; i+m.n <= len(seq); i++ {
		k := key(seq[i : i+m.n])
		switch c := m.counts[k]; {
		case c == 0:
			added++
			m.counts[k] = 1
			m.total++
		case c < math.MaxUint32:
			m.counts[k] = c + 1
			m.total++
		}
	}
	return added
}

// Clone returns a model that learns on without changing m: a new image
// version of a container starts from its previous version's model.
func (m *Model) Clone() *Model {
	c := &Model{n: m.n, counts: make(map[uint64]uint32, len(m.counts)), total: m.total}
	for k, v := range m.counts {
		c.counts[k] = v
	}
	return c
}

// rare is how often an n-gram must have been seen to count as normal.
const rare = 2

// Score is the novelty of a window: the mean, over its n-grams, of 1 for an
// unseen n-gram, 0.5 for a rare one and 0 for a common one. A window shorter
// than n scores 0.
func (m *Model) Score(w []uint32) float64 {
	total, novel := 0, 0.0
	for i := 0; i+m.n <= len(w); i++ {
		total++
		switch c := m.counts[key(w[i:i+m.n])]; {
		case c == 0:
			novel++
		case c < rare:
			novel += 0.5
		}
	}
	if total == 0 {
		return 0
	}
	return novel / float64(total)
}

// Novel lists the positions in w where an unseen n-gram starts: the
// evidence a verdict carries.
func (m *Model) Novel(w []uint32) []int {
	var at []int
	for i := 0; i+m.n <= len(w); i++ {
		if m.counts[key(w[i:i+m.n])] == 0 {
			at = append(at, i)
		}
	}
	return at
}

// Surprise is the other way to score a window: the mean, over its n-grams,
// of their negative log-probability under the learned frequencies (add-one
// smoothed, one share kept for everything unseen), divided by that of an
// unseen n-gram, so that it runs from near 0 (only common n-grams) to 1 (only
// unseen ones) and a rare n-gram counts by how rare it is.
func (m *Model) Surprise(w []uint32) float64 {
	total := 0
	denom := float64(m.total) + float64(len(m.counts)) + 1
	unseen := math.Log(denom)
	sum := 0.0
	for i := 0; i+m.n <= len(w); i++ {
		total++
		sum += math.Log(denom / (float64(m.counts[key(w[i:i+m.n])]) + 1))
	}
	if total == 0 || unseen == 0 {
		return 0
	}
	return sum / float64(total) / unseen
}
