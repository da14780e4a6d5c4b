package eaas

import (
	"fmt"
	"strings"
)

// Enrolment is the answer of GET EnrolmentPath: who the caller is in its
// subscriber, its widths and token, a lease of sequence numbers that no
// other instance of the same requester gets, and its peers.
type Enrolment struct {
	Version      int      `json:"version"`
	Coordinator  string   `json:"coordinator"`
	Subscriber   uint32   `json:"subscriber"`
	Requester    uint32   `json:"requester"`
	Widths       Widths   `json:"widths"`
	Token        uint8    `json:"token"`
	Seq          SeqLease `json:"seq"`
	Cipher       CipherID `json:"cipher"`
	MaxBodyBytes int64    `json:"max_body_bytes"`
	Peers        []Peer   `json:"peers,omitempty"`
}

// SeqLease is the block [Start, Start+Count) of sequence numbers.
type SeqLease struct {
	Start uint64 `json:"start"`
	Count uint64 `json:"count"`
}

// Peer is another member of the subscriber: its requester id, its SPIFFE
// principal without the scheme, and the service hosts it answers on.
type Peer struct {
	Requester uint32   `json:"requester"`
	Principal string   `json:"principal"`
	Hosts     []string `json:"hosts"`
}

// EnrolmentVersion is the only version DecodeEnrolment accepts.
const EnrolmentVersion = 1

// Limits of an enrolment, which a filter holds in memory.
const (
	MaxEnrolmentBytes = 4 << 20
	MaxPeers          = 4096
	MaxHostsPerPeer   = 16
	MaxHostBytes      = 253
	MaxPrincipalBytes = 512
	MaxNameBytes      = 64
	MaxBodyBytesLimit = 1 << 30
)

var enrolmentKeys = &keys{fields: map[string]*keys{
	"version": nil, "coordinator": nil, "subscriber": nil, "requester": nil, "token": nil, "cipher": nil,
	"max_body_bytes": nil,
	"widths":         {fields: map[string]*keys{"s": nil, "r": nil, "n": nil, "t": nil}},
	"seq":            {fields: map[string]*keys{"start": nil, "count": nil}},
	"peers": {array: true, elem: &keys{fields: map[string]*keys{
		"requester": nil, "principal": nil, "hosts": {array: true}}}},
}}

// DecodeEnrolment parses and validates an enrolment strictly: unknown,
// case-folded and repeated fields are refused, and every list and string
// is bounded. Errors name the field.
func DecodeEnrolment(b []byte) (Enrolment, error) {
	var e Enrolment
	if len(b) > MaxEnrolmentBytes {
		return e, fmt.Errorf("eaas enrolment: %d bytes, limit %d", len(b), MaxEnrolmentBytes)
	}
	if err := decodeStrict(b, &e, enrolmentKeys); err != nil {
		return Enrolment{}, fmt.Errorf("eaas enrolment: %w", err)
	}
	if err := e.Validate(); err != nil {
		return Enrolment{}, fmt.Errorf("eaas enrolment: %w", err)
	}
	if len(e.Peers) == 0 {
		e.Peers = nil // "peers":[] and no peers mean the same
	}
	return e, nil
}

// Validate checks every field against the widths and the limits.
func (e *Enrolment) Validate() error {
	w := e.Widths
	switch err := w.Validate(); {
	case e.Version != EnrolmentVersion:
		return fmt.Errorf("field \"version\" is %d, want %d", e.Version, EnrolmentVersion)
	case !name(e.Coordinator, MaxNameBytes):
		return fmt.Errorf("field \"coordinator\" is not a name of 1 to %d bytes of [A-Za-z0-9._-]", MaxNameBytes)
	case err != nil:
		return fmt.Errorf("field \"widths\": %v", err)
	case !fits(uint64(e.Subscriber), w.S):
		return fmt.Errorf("field \"subscriber\" %d does not fit in s=%d bits", e.Subscriber, w.S)
	case !fits(uint64(e.Requester), w.R):
		return fmt.Errorf("field \"requester\" %d does not fit in r=%d bits", e.Requester, w.R)
	case !fits(uint64(e.Token), w.T):
		return fmt.Errorf("field \"token\" %d does not fit in t=%d bits", e.Token, w.T)
	case e.Seq.Count == 0 || !fits(e.Seq.Start, w.N) || e.Seq.Count-1 > maxValue(w.N)-e.Seq.Start:
		return fmt.Errorf("field \"seq\": [%d, +%d) is empty or leaves n=%d bits", e.Seq.Start, e.Seq.Count, w.N)
	case e.Cipher.String() == "":
		return fmt.Errorf("field \"cipher\" is missing")
	case e.MaxBodyBytes < 1 || e.MaxBodyBytes > MaxBodyBytesLimit:
		return fmt.Errorf("field \"max_body_bytes\" is %d, want 1 to %d", e.MaxBodyBytes, MaxBodyBytesLimit)
	case len(e.Peers) > MaxPeers:
		return fmt.Errorf("field \"peers\" has %d entries, limit %d", len(e.Peers), MaxPeers)
	}
	return e.validatePeers()
}

func (e *Enrolment) validatePeers() error {
	ids := make(map[uint32]bool, len(e.Peers))
	hosts := make(map[string]bool, len(e.Peers))
	for i, p := range e.Peers {
		at := fmt.Sprintf("field \"peers\"[%d]", i)
		switch {
		case !fits(uint64(p.Requester), e.Widths.R):
			return fmt.Errorf("%s.requester %d does not fit in r=%d bits", at, p.Requester, e.Widths.R)
		case ids[p.Requester]:
			return fmt.Errorf("%s.requester %d is repeated", at, p.Requester)
		case !principal(p.Principal):
			return fmt.Errorf("%s.principal is not a SPIFFE principal without the scheme, 1 to %d bytes", at, MaxPrincipalBytes)
		case len(p.Hosts) > MaxHostsPerPeer: // none: a peer that only sends (no outbound request names it)
			return fmt.Errorf("%s.hosts has %d entries, want at most %d", at, len(p.Hosts), MaxHostsPerPeer)
		}
		ids[p.Requester] = true
		for j, h := range p.Hosts {
			switch {
			case !hostName(h):
				return fmt.Errorf("%s.hosts[%d] is not a lower-case host name of 1 to %d bytes", at, j, MaxHostBytes)
			case hosts[h]:
				// One host, one peer: else a request's peer would be ambiguous.
				return fmt.Errorf("%s.hosts[%d] %q belongs to an earlier peer too", at, j, h)
			}
			hosts[h] = true
		}
	}
	return nil
}

// PeerByRequester finds a peer by requester id.
func (e *Enrolment) PeerByRequester(id uint32) (Peer, bool) {
	for _, p := range e.Peers {
		if p.Requester == id {
			return p, true
		}
	}
	return Peer{}, false
}

func maxValue(bits uint8) uint64 {
	if bits >= 64 {
		return ^uint64(0)
	}
	return 1<<bits - 1
}

func fits(v uint64, bits uint8) bool { return v <= maxValue(bits) }

func name(s string, limit int) bool {
	if s == "" || len(s) > limit {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// principal accepts printable ASCII without spaces and without a scheme,
// as in cluster.local/ns/shop/sa/orders.
func principal(s string) bool {
	if s == "" || len(s) > MaxPrincipalBytes || strings.Contains(s, "://") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func hostName(s string) bool {
	if s == "" || len(s) > MaxHostBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
