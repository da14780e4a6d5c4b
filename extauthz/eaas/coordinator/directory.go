package coordinator

import (
	"fmt"
	"sync"

	"github.com/meshward/meshward/extauthz/eaas/subscriber"
)

// State keeps what the coordinator must not forget across restarts: its
// subscribers and how far each requester's sequence numbers were leased.
type State interface {
	Reserver
	SaveSubscriber(s subscriber.Subscriber) error
	Subscribers() ([]subscriber.Subscriber, error)
}

// directory is the seed's subscribers database, indexed by id and by the
// members' principals (a principal belongs to one subscriber).
type directory struct {
	mu     sync.RWMutex
	byID   map[uint32]*subscriber.Subscriber
	byName map[string]memberRef
}

type memberRef struct {
	sub       *subscriber.Subscriber
	requester uint32
}

func newDirectory() *directory {
	return &directory{byID: map[uint32]*subscriber.Subscriber{}, byName: map[string]memberRef{}}
}

// put adds or replaces a subscriber; a principal already in another
// subscriber is refused, since one identity must map to one requester.
func (d *directory) put(s subscriber.Subscriber) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range s.Members {
		if ref, ok := d.byName[m.Principal]; ok && ref.sub.ID != s.ID {
			return fmt.Errorf("principal %q is already a member of subscriber %d", m.Principal, ref.sub.ID)
		}
	}
	if old, ok := d.byID[s.ID]; ok {
		for _, m := range old.Members {
			delete(d.byName, m.Principal)
		}
	}
	rec := s
	d.byID[s.ID] = &rec
	for _, m := range rec.Members {
		d.byName[m.Principal] = memberRef{sub: &rec, requester: m.Requester}
	}
	return nil
}

func (d *directory) member(principal string) (memberRef, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	ref, ok := d.byName[principal]
	return ref, ok
}

func (d *directory) all() []subscriber.Subscriber {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]subscriber.Subscriber, 0, len(d.byID))
	for _, s := range d.byID {
		out = append(out, *s)
	}
	return out
}

// memoryState is State for tests and single runs without a key store.
type memoryState struct {
	mu       sync.Mutex
	subs     map[uint32]subscriber.Subscriber
	reserved map[string]uint64
}

// NewMemoryState keeps state in memory only.
func NewMemoryState() State {
	return &memoryState{subs: map[uint32]subscriber.Subscriber{}, reserved: map[string]uint64{}}
}

func (m *memoryState) Reserve(r string, upTo uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reserved[r] = upTo
	return nil
}

func (m *memoryState) Reserved(r string) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reserved[r], nil
}

func (m *memoryState) SaveSubscriber(s subscriber.Subscriber) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.subs[s.ID] = s
	return nil
}

func (m *memoryState) Subscribers() ([]subscriber.Subscriber, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]subscriber.Subscriber, 0, len(m.subs))
	for _, s := range m.subs {
		out = append(out, s)
	}
	return out, nil
}

// check refuses a subscriber whose principals belong to another one, and a
// new record of a subscriber that gives a requester id to another principal
// (or a principal another id): keys and sealed envelopes belong to ids, so
// the new holder of an id would read what was meant for the old one.
func (d *directory) check(s subscriber.Subscriber) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, m := range s.Members {
		if ref, ok := d.byName[m.Principal]; ok && ref.sub.ID != s.ID {
			return fmt.Errorf("principal %q is already a member of subscriber %d", m.Principal, ref.sub.ID)
		}
	}
	old, ok := d.byID[s.ID]
	if !ok {
		return nil
	}
	return checkRebinding(old, s)
}

func checkRebinding(old *subscriber.Subscriber, s subscriber.Subscriber) error {
	byID := make(map[uint32]string, len(old.Members))
	byName := make(map[string]uint32, len(old.Members))
	for _, o := range old.Members {
		byID[o.Requester], byName[o.Principal] = o.Principal, o.Requester
	}
	for _, m := range s.Members {
		if p, ok := byID[m.Requester]; ok && p != m.Principal {
			return fmt.Errorf("subscriber %d: requester %d is %q: it cannot become %q", s.ID, m.Requester, p, m.Principal)
		}
		if r, ok := byName[m.Principal]; ok && r != m.Requester {
			return fmt.Errorf("subscriber %d: %q is requester %d: it cannot become %d", s.ID, m.Principal, r, m.Requester)
		}
	}
	return nil
}

func (d *directory) subscriber(id uint32) (*subscriber.Subscriber, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	s, ok := d.byID[id]
	return s, ok
}
