package registrar

import (
	"fmt"

	"github.com/meshward/meshward/extauthz/eaas/subscriber"
)

// MaxIDsEver bounds the requester ids one subscriber can ever be given, so
// that the registrar's memory of them stays bounded.
const MaxIDsEver = 4 * subscriber.MaxMembers

// idBook is every requester id a subscriber ever gave, and to whom. Keys
// and sealed envelopes belong to ids: an id that passed to another
// principal would let it read what was meant for the first.
type idBook struct {
	byID   map[uint32]string
	byName map[string]uint32
}

func newIDBook() *idBook { return &idBook{byID: map[uint32]string{}, byName: map[string]uint32{}} }

// number gives members without a requester id theirs: the one they had, or
// the lowest never given. An id given to another principal is refused.
func (b *idBook) number(members []subscriber.Member) ([]subscriber.Member, error) {
	out := make([]subscriber.Member, len(members))
	copy(out, members)
	taken := map[uint32]bool{}
	for i, m := range out {
		if m.Requester == 0 {
			continue
		}
		if p, ok := b.byID[m.Requester]; ok && p != m.Principal {
			return nil, fmt.Errorf("members[%d]: requester %d was given to %q", i, m.Requester, p)
		}
		if r, ok := b.byName[m.Principal]; ok && r != m.Requester {
			return nil, fmt.Errorf("members[%d]: %q is requester %d", i, m.Principal, r)
		}
		taken[m.Requester] = true
	}
	next, fresh := uint32(1), 0 // fresh: ids never given before
	for i := range out {
		if out[i].Requester != 0 {
			continue
		}
		if r, ok := b.byName[out[i].Principal]; ok && !taken[r] {
			out[i].Requester, taken[r] = r, true
			continue
		}
		for taken[next] || b.byID[next] != "" {
			next++
		}
		out[i].Requester, taken[next] = next, true
	}
	for _, m := range out {
		if _, ok := b.byID[m.Requester]; !ok {
			fresh++
		}
	}
	if len(b.byID)+fresh > MaxIDsEver {
		return nil, fmt.Errorf("%d requester ids given already: at most %d ever", len(b.byID), MaxIDsEver)
	}
	return out, nil
}

func (b *idBook) give(m subscriber.Member) {
	b.byID[m.Requester], b.byName[m.Principal] = m.Principal, m.Requester
}
