// Package subscriber is the record of one EaaS subscriber (a service
// provider, seed 001): its widths, token, cipher, what happens when no
// replica can serve, and its members (the workloads whose sidecars request
// cryptography), with the checks that make a registration well formed.
package subscriber

import (
	"fmt"
	"strings"

	"github.com/meshward/meshward/api/eaas"
)

// Limits on a registration, so that one subscriber cannot make the
// coordinator's tables unbounded.
const (
	MaxMembers     = 4096
	MaxHosts       = 16
	maxNameLen     = 253
	MaxDeception   = 6 // 64 messages per real one: more costs more than it hides
	DefaultCipher  = "aes256-gcm"
	FailClosed     = "fail-closed"
	ForwardPlain   = "forward-plaintext"
	DefaultWidthsS = 16
	DefaultWidthsR = 16
	DefaultWidthsN = 32
)

// CipherID is the envelope id of the subscriber's cipher (0 if unknown).
func (s *Subscriber) CipherID() eaas.CipherID {
	id, err := eaas.ParseCipher(s.Cipher)
	if err != nil {
		return 0
	}
	return id
}

// Member is one workload of a subscriber.
type Member struct {
	Requester uint32   `json:"requester"`
	Principal string   `json:"principal"` // cluster.local/ns/<ns>/sa/<sa>
	Hosts     []string `json:"hosts,omitempty"`
}

// Subscriber is what the coordinator keeps about a subscriber.
type Subscriber struct {
	ID            uint32      `json:"id"`
	Widths        eaas.Widths `json:"widths"`
	Token         uint8       `json:"token"`
	Cipher        string      `json:"cipher"`
	OnUnavailable string      `json:"on_unavailable"`
	Members       []Member    `json:"members"`
	Coordinator   string      `json:"coordinator,omitempty"`
}

// Messages is how many frames carry one real message (2^t).
func (s *Subscriber) Messages() int { return 1 << s.Widths.T }

// Member returns the member with requester id r.
func (s *Subscriber) Member(r uint32) (*Member, bool) {
	for i := range s.Members {
		if s.Members[i].Requester == r {
			return &s.Members[i], true
		}
	}
	return nil, false
}

// Validate says what is wrong with a subscriber record, field by field.
func (s *Subscriber) Validate() error {
	if err := s.Widths.Validate(); err != nil {
		return fmt.Errorf("subscriber %d: widths: %w", s.ID, err)
	}
	if s.Widths.T > MaxDeception {
		return fmt.Errorf("subscriber %d: deception factor %d: at most %d", s.ID, s.Widths.T, MaxDeception)
	}
	if !fits(uint64(s.ID), s.Widths.S) {
		return fmt.Errorf("subscriber %d: id does not fit in s=%d bits", s.ID, s.Widths.S)
	}
	if !fits(uint64(s.Token), s.Widths.T) {
		return fmt.Errorf("subscriber %d: token does not fit in t=%d bits", s.ID, s.Widths.T)
	}
	if _, err := eaas.ParseCipher(s.Cipher); err != nil {
		return fmt.Errorf("subscriber %d: %w", s.ID, err)
	}
	if s.OnUnavailable != FailClosed && s.OnUnavailable != ForwardPlain {
		return fmt.Errorf("subscriber %d: on_unavailable %q: want %q or %q", s.ID, s.OnUnavailable, FailClosed, ForwardPlain)
	}
	return s.validateMembers()
}

func (s *Subscriber) validateMembers() error {
	if len(s.Members) == 0 || len(s.Members) > MaxMembers {
		return fmt.Errorf("subscriber %d: %d members: want 1 to %d", s.ID, len(s.Members), MaxMembers)
	}
	ids := make(map[uint32]bool, len(s.Members))
	principals := make(map[string]bool, len(s.Members))
	hosts := map[string]uint32{} // a source's filter finds its peer by host: one host, one member
	for i, m := range s.Members {
		where := fmt.Sprintf("subscriber %d: members[%d]", s.ID, i)
		if m.Requester == 0 || !fits(uint64(m.Requester), s.Widths.R) {
			return fmt.Errorf("%s: requester %d: want 1 to %d (r=%d bits)", where, m.Requester, max(1<<s.Widths.R-1, 1), s.Widths.R)
		}
		if ids[m.Requester] {
			return fmt.Errorf("%s: requester %d appears twice", where, m.Requester)
		}
		if err := checkPrincipal(m.Principal); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if principals[m.Principal] {
			return fmt.Errorf("%s: principal %q appears twice", where, m.Principal)
		}
		if err := checkHosts(m.Hosts); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		for _, h := range m.Hosts {
			h = strings.ToLower(h) // DNS names compare without case
			if r, ok := hosts[h]; ok {
				return fmt.Errorf("%s: host %q is already requester %d's", where, h, r)
			}
			hosts[h] = m.Requester
		}
		ids[m.Requester], principals[m.Principal] = true, true
	}
	return nil
}

// checkPrincipal wants Istio's principal form: <trust domain>/ns/<ns>/sa/<sa>.
func checkPrincipal(p string) error {
	parts := strings.Split(p, "/")
	if len(p) > maxNameLen || len(parts) != 5 || parts[0] == "" || parts[1] != "ns" || parts[2] == "" ||
		parts[3] != "sa" || parts[4] == "" {
		return fmt.Errorf("principal %q: want <trust domain>/ns/<namespace>/sa/<service account>", p)
	}
	return nil
}

func checkHosts(hosts []string) error {
	if len(hosts) > MaxHosts {
		return fmt.Errorf("%d hosts: at most %d", len(hosts), MaxHosts)
	}
	for _, h := range hosts {
		if h == "" || len(h) > maxNameLen || strings.ContainsAny(h, ":/ \t") {
			return fmt.Errorf("host %q: want a DNS name without port", h)
		}
	}
	return nil
}

func fits(v uint64, bits uint8) bool { return bits >= 64 || v < 1<<bits }
