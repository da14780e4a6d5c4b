package catalog

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is when and how a service moves by itself.
type Schedule struct {
	// Every is the mean time between moves; each gap is drawn in
	// Every ± Jitter, so an observer cannot predict the next one.
	Every  time.Duration `yaml:"every"`
	Jitter time.Duration `yaml:"jitter"`
	// MaxPerHour bounds moves of the service in any hour, whatever asked
	// for them: events from the authorizer can be provoked by an attacker,
	// and a storm of moves would be a denial of service (0: no bound).
	MaxPerHour int `yaml:"maxPerHour"`
	// Blackouts are daily UTC windows ("HH:MM-HH:MM") in which timers do
	// not move the service (a security event still does).
	Blackouts []Window `yaml:"blackouts"`
	// Grace is how long the old socket stays open after every client
	// moved, for requests in flight; AckTimeout how long clients have to
	// acknowledge the new endpoints before they are reported; HardDeadline
	// when the old socket closes even for clients that never did.
	Grace        time.Duration `yaml:"grace"`
	AckTimeout   time.Duration `yaml:"ackTimeout"`
	HardDeadline time.Duration `yaml:"hardDeadline"`
	// Recent is how many past ports (and addresses) are never drawn again;
	// 0: half the pool.
	Recent int `yaml:"recent"`
}

// Window is a daily span of UTC time, which may wrap past midnight.
type Window struct {
	Start, End time.Duration // since midnight
	Text       string
}

// UnmarshalYAML reads "HH:MM-HH:MM".
func (w *Window) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	a, b, ok := strings.Cut(s, "-")
	start, err1 := clock(a)
	end, err2 := clock(b)
	if !ok || err1 != nil || err2 != nil || start == end {
		return fmt.Errorf("blackout %q: want HH:MM-HH:MM (UTC), start and end different", s)
	}
	*w = Window{Start: start, End: end, Text: s}
	return nil
}

func clock(s string) (time.Duration, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("bad clock %q", s)
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}

// Contains says whether t (taken in UTC) falls in the window.
func (w Window) Contains(t time.Time) bool {
	t = t.UTC()
	d := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second
	if w.Start < w.End {
		return d >= w.Start && d < w.End
	}
	return d >= w.Start || d < w.End
}

// Defaults for what a schedule leaves out.
const (
	DefaultGrace        = 5 * time.Second
	DefaultAckTimeout   = 5 * time.Second
	DefaultHardDeadline = 60 * time.Second
	minEvery            = time.Second
	maxBlackouts        = 24
)

func (s *Schedule) validate() error {
	switch {
	case s.Every < minEvery:
		return fmt.Errorf("every %v: want at least %v", s.Every, minEvery)
	case s.Jitter < 0 || s.Jitter >= s.Every:
		return fmt.Errorf("jitter %v: want 0 ≤ jitter < every (%v)", s.Jitter, s.Every)
	case s.MaxPerHour < 0:
		return fmt.Errorf("maxPerHour %d: want 0 (no bound) or more", s.MaxPerHour)
	case s.Grace < 0 || s.AckTimeout < 0 || s.HardDeadline < 0 || s.Recent < 0:
		return fmt.Errorf("grace, ackTimeout, hardDeadline and recent must not be negative")
	case len(s.Blackouts) > maxBlackouts:
		return fmt.Errorf("%d blackouts, at most %d", len(s.Blackouts), maxBlackouts)
	}
	s.fill()
	if s.HardDeadline < s.AckTimeout {
		return fmt.Errorf("hardDeadline %v is before ackTimeout %v", s.HardDeadline, s.AckTimeout)
	}
	return nil
}

func (s *Schedule) fill() {
	if s.Grace == 0 {
		s.Grace = DefaultGrace
	}
	if s.AckTimeout == 0 {
		s.AckTimeout = DefaultAckTimeout
	}
	if s.HardDeadline == 0 {
		s.HardDeadline = max(DefaultHardDeadline, s.AckTimeout)
	}
}

// InBlackout says whether t falls in one of the schedule's windows.
func (s *Schedule) InBlackout(t time.Time) bool {
	for _, w := range s.Blackouts {
		if w.Contains(t) {
			return true
		}
	}
	return false
}

// DefaultSchedule is what a move the schedule did not start waits by, for a
// service without one.
func DefaultSchedule() Schedule {
	s := Schedule{Every: time.Hour}
	s.fill()
	return s
}
