package rotation

import (
	"errors"
	"fmt"
	"time"

	"github.com/meshward/meshward/xds/catalog"
)

// Cause is why a service moves.
type Cause string

// The causes of a move. A timer respects its schedule's blackouts; a
// security event does not (an attack in progress is no time to wait), but
// every cause counts against MaxPerHour, which events cannot exceed
// either: an attacker who can provoke events must not be able to make
// the mesh move without end.
const (
	CauseTimer    Cause = "timer"
	CauseOperator Cause = "operator"
	CauseEvent    Cause = "event"
)

// Why a move is held back.
var (
	ErrBlackout = errors.New("in a blackout window")
	ErrBudget   = errors.New("moved as often as maxPerHour allows")
)

// Admit says whether service may move now for cause; Plan and PlanPort
// count the moves it admits.
func (p *Planner) Admit(service string, cause Cause, now time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.cat.Lookup(service)
	if !ok {
		return fmt.Errorf("rotation: %w: %q", ErrUnknownService, service)
	}
	sc := s.Rotation
	if sc == nil {
		return nil
	}
	if cause == CauseTimer && sc.InBlackout(now) {
		return fmt.Errorf("rotation: %w: service %q", ErrBlackout, service)
	}
	if sc.MaxPerHour == 0 {
		return nil
	}
	if n := p.movesSince(service, now.Add(-time.Hour)); n >= sc.MaxPerHour {
		return fmt.Errorf("rotation: %w: service %q moved %d times in the last hour", ErrBudget, service, n)
	}
	return nil
}

// movesSince counts the service's moves after t and forgets older ones;
// the caller holds p.mu.
func (p *Planner) movesSince(service string, t time.Time) int {
	ms := p.moves[service]
	i := 0
	for i < len(ms) && !ms[i].After(t) {
		i++
	}
	p.moves[service] = ms[i:]
	return len(ms) - i
}

// count records a move of service now; the caller holds p.mu.
func (p *Planner) count(service string) {
	s, _ := p.cat.Lookup(service)
	if s.Rotation == nil || s.Rotation.MaxPerHour == 0 {
		return
	}
	now := p.now()
	p.movesSince(service, now.Add(-time.Hour))
	p.moves[service] = append(p.moves[service], now)
}

// NextDue is when a timer moves the service next, after last: Every plus a
// uniformly random offset in [-Jitter, +Jitter] (crypto/rand), so that the
// moves keep no rhythm an observer could learn.
func NextDue(sc *catalog.Schedule, last time.Time) time.Time {
	d := sc.Every
	if sc.Jitter > 0 {
		d += time.Duration(uniform(int(2*sc.Jitter/time.Millisecond)+1))*time.Millisecond - sc.Jitter
	}
	return last.Add(d)
}
