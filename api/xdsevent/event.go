// Package xdsevent is the wire format of the security events the
// authorizer reports to the xDS server (POST /events on its admin API): a
// scan or lateral-movement suspect, a quarantine made or released. The xDS
// server answers by moving the services the workload could reach and, for a
// quarantine, by telling the workload's nodes nothing new until the release.
package xdsevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/meshward/meshward/internal/identity"
)

// Path is where the xDS server's admin API takes events.
const Path = "/events"

// MaxBytes bounds an event's body, as encoded; an event is a few hundred
// bytes, so anything near the bound is not one.
const MaxBytes = 64 << 10

// MaxTTL bounds how long one quarantine event freezes a workload's nodes
// (the authorizer's own bound on a verdict's quarantine).
const MaxTTL = 7 * 24 * time.Hour

// Bounds on the string fields: a SPIFFE ID, a DNS-label-like service name,
// a short reason id.
const (
	maxWorkload = 2048
	maxService  = 253
	maxReason   = 128
)

// Kind is what happened.
type Kind string

// The kinds of event.
const (
	Scan       Kind = "scan"       // a source fanned out over destinations or ports
	Lateral    Kind = "lateral"    // a source took edges never seen while learning
	Quarantine Kind = "quarantine" // the workload was quarantined
	Release    Kind = "release"    // its quarantine was lifted
)

// Moves says whether the kind moves the services the workload could reach.
func (k Kind) Moves() bool { return k == Scan || k == Lateral || k == Quarantine }

// Event is one report about a workload.
type Event struct {
	Kind     Kind   `json:"kind"`
	Workload string `json:"workload"` // its SPIFFE ID
	// Service is a catalog service the workload went for, moved too
	// (optional; not with release).
	Service string `json:"service,omitempty"`
	// Reason is a short id for the logs ("lateral-movement:new-edges").
	Reason string `json:"reason,omitempty"`
	// TTLSeconds ends a quarantine's freeze by itself (0: at the release);
	// only with quarantine.
	TTLSeconds int64 `json:"ttl_seconds,omitempty"`
}

// Decode reads one event from r: exactly one JSON object with the fields
// above spelled exactly (no unknown, duplicate or differently cased names,
// which parsers disagree on), nothing after it, at most MaxBytes. Its errors
// name the field or the byte offset that is wrong.
func Decode(r io.Reader) (Event, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return Event{}, fmt.Errorf("event: reading the body: %w", err)
	}
	if len(b) > MaxBytes {
		return Event{}, fmt.Errorf("event: body is over %d bytes", MaxBytes)
	}
	e, err := decodeObject(b)
	if err != nil {
		return Event{}, fmt.Errorf("event: %w", err)
	}
	return e, e.Validate()
}

func decodeObject(b []byte) (Event, error) {
	var e Event
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := expectDelim(dec, '{'); err != nil {
		return e, err
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return e, syntax(err, dec)
		}
		name, _ := tok.(string)
		if seen[name] {
			return e, fmt.Errorf("field %q given twice (offset %d)", name, dec.InputOffset())
		}
		seen[name] = true
		if err := decodeField(dec, &e, name); err != nil {
			return e, err
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return e, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return e, fmt.Errorf("trailing data after the JSON object at offset %d", dec.InputOffset())
	}
	return e, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return syntax(err, dec)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("want %q at offset %d, got %v", string(want), dec.InputOffset(), describe(tok))
	}
	return nil
}

func decodeField(dec *json.Decoder, e *Event, name string) error {
	tok, err := dec.Token()
	if err != nil {
		return syntax(err, dec)
	}
	str := func(dst *string) error {
		s, ok := tok.(string)
		if !ok {
			return fmt.Errorf("field %q at offset %d: want a string, got %s", name, dec.InputOffset(), describe(tok))
		}
		*dst = s
		return nil
	}
	switch name {
	case "kind":
		return str((*string)(&e.Kind))
	case "workload":
		return str(&e.Workload)
	case "service":
		return str(&e.Service)
	case "reason":
		return str(&e.Reason)
	case "ttl_seconds":
		n, ok := tok.(json.Number)
		v, err := n.Int64()
		if !ok || err != nil {
			return fmt.Errorf("field %q at offset %d: want a whole number of seconds, got %s", name, dec.InputOffset(), describe(tok))
		}
		e.TTLSeconds = v
		return nil
	}
	return fmt.Errorf("unknown field %q at offset %d (want kind, workload, service, reason, ttl_seconds)", clip(name), dec.InputOffset())
}

func syntax(err error, dec *json.Decoder) error {
	if errors.Is(err, io.EOF) && dec.InputOffset() == 0 {
		return errors.New("empty body")
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("malformed JSON: truncated at offset %d", dec.InputOffset())
	}
	return fmt.Errorf("malformed JSON at offset %d: %v", dec.InputOffset(), err)
}

// describe names a token without echoing much of it.
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		return fmt.Sprintf("%q", string(v))
	case string:
		return "a string"
	case json.Number:
		return "the number " + clip(v.String())
	case bool:
		return fmt.Sprint(v)
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}

// clip keeps an echoed value short: errors are logged and answered.
func clip(s string) string {
	if len(s) > 64 {
		return strings.ToValidUTF8(s[:64], "") + "..."
	}
	return s
}

// Validate checks what an event must hold.
func (e Event) Validate() error {
	switch e.Kind {
	case Scan, Lateral, Quarantine, Release:
	case "":
		return errors.New("event: field \"kind\" is missing")
	default:
		return fmt.Errorf("event: field \"kind\": %q is not one of scan, lateral, quarantine, release", clip(string(e.Kind)))
	}
	if e.Workload == "" {
		return errors.New("event: field \"workload\" is missing")
	}
	if len(e.Workload) > maxWorkload {
		return fmt.Errorf("event: field \"workload\" is %d bytes, limit %d", len(e.Workload), maxWorkload)
	}
	if _, _, _, err := identity.Parse(e.Workload); err != nil || !chars(e.Workload, "-._:/%") {
		return fmt.Errorf("event: field \"workload\": %q is not spiffe://<trust domain>/ns/<namespace>/sa/<service account>", clip(e.Workload))
	}
	return e.validateOptional()
}

func (e Event) validateOptional() error {
	switch {
	case e.Service != "" && e.Kind == Release:
		return errors.New("event: field \"service\" goes with scan, lateral or quarantine, not release")
	case len(e.Service) > maxService || !chars(e.Service, "-._"):
		return fmt.Errorf("event: field \"service\": %q is not a service name (letters, digits, '-', '.', '_'; at most %d bytes)", clip(e.Service), maxService)
	case len(e.Reason) > maxReason || !chars(e.Reason, "-._:"):
		return fmt.Errorf("event: field \"reason\": %q is not a reason id (letters, digits, '-', '.', '_', ':'; at most %d bytes)", clip(e.Reason), maxReason)
	case e.TTLSeconds != 0 && e.Kind != Quarantine:
		return errors.New("event: field \"ttl_seconds\" goes with quarantine only")
	case e.TTLSeconds < 0 || e.TTLSeconds > int64(MaxTTL/time.Second):
		return fmt.Errorf("event: field \"ttl_seconds\" must be within [0, %d]", int64(MaxTTL/time.Second))
	}
	return nil
}

// chars says s holds only letters, digits and the punctuation given:
// nothing a log line or a terminal could take for anything else, and no
// query or fragment that identity.Parse would look past.
func chars(s, punct string) bool {
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(punct, c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// TTL is the freeze's duration (0: until released).
func (e Event) TTL() time.Duration {
	return time.Duration(e.TTLSeconds) * time.Second // Validate bounds it
}
