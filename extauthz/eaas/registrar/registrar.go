// Package registrar is the EaaS registrar of seed 001 (Fig. 4): a service
// provider registers its id, deception factor and members; the registrar
// makes its token, assigns it to a coordinator and answers with both.
package registrar

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"sync"

	"github.com/meshward/meshward/api/eaas"
	"github.com/meshward/meshward/extauthz/eaas/subscriber"
)

// Coordinator is a coordinator the registrar can assign subscribers to.
type Coordinator interface {
	Assign(ctx context.Context, s subscriber.Subscriber) (string, error)
}

// Registration is what a service provider sends.
type Registration struct {
	Subscriber    uint32
	Deception     uint8       // token bits t
	Widths        eaas.Widths // S, R, N; zero: meshward's defaults; T is Deception
	Cipher        string      // default aes256-gcm
	OnUnavailable string      // default fail-closed
	Members       []subscriber.Member
}

// Registrar assigns subscribers to coordinators, fewest subscribers first; a
// subscriber registered again (a new token, new members) stays with its
// coordinator.
type Registrar struct {
	mu       sync.Mutex
	coords   []Coordinator
	load     []int
	assigned map[uint32]int
}

// New makes a registrar over coordinators.
func New(coords ...Coordinator) *Registrar {
	return &Registrar{coords: coords, load: make([]int, len(coords)), assigned: map[uint32]int{}}
}

// Register validates a registration, makes the token and assigns it.
func (r *Registrar) Register(ctx context.Context, reg Registration) (subscriber.Subscriber, error) {
	s, err := build(reg)
	if err != nil {
		return subscriber.Subscriber{}, err
	}
	if err := s.Validate(); err != nil {
		return subscriber.Subscriber{}, err
	}
	id, err := r.assign(ctx, s)
	if err != nil {
		return subscriber.Subscriber{}, err
	}
	s.Coordinator = id
	return s, nil
}

func build(reg Registration) (subscriber.Subscriber, error) {
	w := reg.Widths
	if w.S == 0 && w.R == 0 && w.N == 0 {
		w = eaas.Widths{S: subscriber.DefaultWidthsS, R: subscriber.DefaultWidthsR, N: subscriber.DefaultWidthsN}
	}
	w.T = reg.Deception
	s := subscriber.Subscriber{ID: reg.Subscriber, Widths: w, Cipher: reg.Cipher, OnUnavailable: reg.OnUnavailable}
	if s.Cipher == "" {
		s.Cipher = subscriber.DefaultCipher
	}
	if s.OnUnavailable == "" {
		s.OnUnavailable = subscriber.FailClosed
	}
	if w.T > subscriber.MaxDeception {
		return s, fmt.Errorf("deception factor %d: at most %d", w.T, subscriber.MaxDeception)
	}
	tok, err := rand.Int(rand.Reader, big.NewInt(int64(1)<<w.T))
	if err != nil {
		return s, fmt.Errorf("making the token: %w", err)
	}
	s.Token = uint8(tok.Int64())
	s.Members = numbered(reg.Members)
	return s, nil
}

// numbered gives members without a requester id the lowest free ones.
func numbered(members []subscriber.Member) []subscriber.Member {
	out := make([]subscriber.Member, len(members))
	copy(out, members)
	taken := map[uint32]bool{}
	for _, m := range out {
		taken[m.Requester] = true
	}
	next := uint32(1)
	for i := range out {
		if out[i].Requester != 0 {
			continue
		}
		for taken[next] {
			next++
		}
		out[i].Requester, taken[next] = next, true
	}
	return out
}

func (r *Registrar) assign(ctx context.Context, s subscriber.Subscriber) (string, error) {
	if len(r.coords) == 0 {
		return "", errors.New("no coordinator to assign to")
	}
	var errs []error
	for _, i := range r.order(s.ID) {
		id, err := r.coords[i].Assign(ctx, s)
		if err == nil {
			r.took(s.ID, i)
			return id, nil
		}
		errs = append(errs, err)
		if _, ok := r.sticky(s.ID); ok {
			break // a subscriber's coordinator holds its sequence books: never move it silently
		}
	}
	return "", fmt.Errorf("assigning subscriber %d: %w", s.ID, errors.Join(errs...))
}

func (r *Registrar) sticky(id uint32) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.assigned[id]
	return i, ok
}

// order lists the coordinators to try: the subscriber's own, or the least
// loaded first.
func (r *Registrar) order(id uint32) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i, ok := r.assigned[id]; ok {
		return []int{i}
	}
	idx := make([]int, len(r.coords))
	for i := range idx {
		idx[i] = i
	}
	for a := 1; a < len(idx); a++ { // insertion sort: a handful of coordinators
		for b := a; b > 0 && r.load[idx[b]] < r.load[idx[b-1]]; b-- {
			idx[b], idx[b-1] = idx[b-1], idx[b]
		}
	}
	return idx
}

func (r *Registrar) took(id uint32, i int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.assigned[id]; !ok {
		r.load[i]++
	}
	r.assigned[id] = i
}
