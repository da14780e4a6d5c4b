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
	"github.com/meshward/meshward/extauthz/eaas/coordinator"
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
// coordinator. It remembers, for the subscribers it registered, which
// principal holds which requester id, so that a principal is a member of one
// subscriber only and an id never passes to another principal.
type Registrar struct {
	// registering makes a registration one step: two racing registrations
	// of one id must not land on two coordinators.
	registering sync.Mutex
	coords      []Coordinator
	load        []int
	assigned    map[uint32]int
	books       map[uint32]*idBook // per subscriber: every id it ever gave
	principals  map[string]uint32  // current members: principal -> subscriber
}

// New makes a registrar over coordinators.
func New(coords ...Coordinator) *Registrar {
	return &Registrar{coords: coords, load: make([]int, len(coords)), assigned: map[uint32]int{},
		books: map[uint32]*idBook{}, principals: map[string]uint32{}}
}

// Register validates a registration, makes the token and assigns it.
func (r *Registrar) Register(ctx context.Context, reg Registration) (subscriber.Subscriber, error) {
	r.registering.Lock()
	defer r.registering.Unlock()
	if len(reg.Members) > subscriber.MaxMembers {
		return subscriber.Subscriber{}, fmt.Errorf("subscriber %d: %d members: at most %d", reg.Subscriber, len(reg.Members), subscriber.MaxMembers)
	}
	if err := r.checkPrincipals(reg); err != nil {
		return subscriber.Subscriber{}, err
	}
	book := r.books[reg.Subscriber]
	if book == nil {
		book = newIDBook()
	}
	members, err := book.number(reg.Members)
	if err != nil {
		return subscriber.Subscriber{}, fmt.Errorf("subscriber %d: %w", reg.Subscriber, err)
	}
	reg.Members = members
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
	r.remember(s, book)
	return s, nil
}

// checkPrincipals refuses a principal that is a member of another
// subscriber: its sidecar could not tell which one its traffic belongs to.
func (r *Registrar) checkPrincipals(reg Registration) error {
	for i, m := range reg.Members {
		if other, ok := r.principals[m.Principal]; ok && other != reg.Subscriber {
			return fmt.Errorf("subscriber %d: members[%d]: principal %q is a member of subscriber %d", reg.Subscriber, i, m.Principal, other)
		}
	}
	return nil
}

func (r *Registrar) remember(s subscriber.Subscriber, book *idBook) {
	for p, id := range r.principals {
		if id == s.ID {
			delete(r.principals, p)
		}
	}
	for _, m := range s.Members {
		r.principals[m.Principal] = s.ID
		book.give(m)
	}
	r.books[s.ID] = book
}

func build(reg Registration) (subscriber.Subscriber, error) {
	w := reg.Widths
	if w.S == 0 && w.R == 0 && w.N == 0 {
		w = eaas.Widths{S: subscriber.DefaultWidthsS, R: subscriber.DefaultWidthsR, N: subscriber.DefaultWidthsN}
	}
	w.T = reg.Deception
	s := subscriber.Subscriber{ID: reg.Subscriber, Widths: w, Cipher: reg.Cipher, OnUnavailable: reg.OnUnavailable,
		Members: reg.Members}
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
	return s, nil
}

// assign tries the subscriber's own coordinator, or the least loaded first.
// It moves on only from a coordinator that was unavailable: one that refused
// (a principal it knows in another subscriber, say) would refuse for a
// reason that another coordinator, not knowing it, would miss.
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
		if !coordinator.IsUnavailable(err) || ctx.Err() != nil {
			break
		}
	}
	return "", fmt.Errorf("assigning subscriber %d: %w", s.ID, errors.Join(errs...))
}

// order lists the coordinators to try: the subscriber's own (a
// subscriber's coordinator holds its sequence books: never move it
// silently), or the least loaded first.
func (r *Registrar) order(id uint32) []int {
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
	if _, ok := r.assigned[id]; !ok {
		r.load[i]++
	}
	r.assigned[id] = i
}
