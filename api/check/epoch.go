package check

import (
	"encoding/json"
	"errors"
	"fmt"
)

// EpochPath serves the current epoch, which filters poll to drop cached
// answers within a second of a change, and to learn which headers the
// policies read.
const EpochPath = "/v1/epoch"

// Epoch is the answer of EpochPath.
type Epoch struct {
	Epoch uint64 `json:"epoch"`
	// Instance identifies the authorizer process that answered. Replicas do
	// not share their quarantine sets yet, so an epoch means something only
	// together with its instance: a filter drops its cached answers when the
	// instance changes and never compares epochs of different instances.
	Instance string `json:"instance"`
	// Headers are the request headers some policy reads (lower-case names):
	// the filter sends them before any other and whole. AllHeaders says a
	// policy reads headers it does not name (a CEL condition iterating over
	// request.headers, say), or that there are more than MaxHeaderNames.
	Headers    []string `json:"headers,omitempty"`
	AllHeaders bool     `json:"all_headers,omitempty"`
}

// Limits of an epoch answer, which a filter decodes every poll.
const (
	MaxEpochBytes      = 32 << 10
	MaxInstanceBytes   = 64
	MaxHeaderNames     = 256
	MaxHeaderNameBytes = 100
)

// DecodeEpoch parses and validates an epoch answer. Its errors say which
// field is wrong.
func DecodeEpoch(body []byte) (Epoch, error) {
	var e Epoch
	if len(body) > MaxEpochBytes {
		return e, fmt.Errorf("epoch answer: %d bytes, limit %d", len(body), MaxEpochBytes)
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return Epoch{}, fmt.Errorf("epoch answer: %w", err)
	}
	switch {
	case e.Epoch == 0:
		return Epoch{}, errors.New("epoch answer: field \"epoch\" is 0 or missing")
	case e.Instance == "" || len(e.Instance) > MaxInstanceBytes:
		return Epoch{}, fmt.Errorf("epoch answer: field \"instance\" is %d bytes, want 1 to %d", len(e.Instance), MaxInstanceBytes)
	case len(e.Headers) > MaxHeaderNames:
		return Epoch{}, fmt.Errorf("epoch answer: field \"headers\" has %d names, limit %d", len(e.Headers), MaxHeaderNames)
	}
	for i, h := range e.Headers {
		if !HeaderName(h) {
			return Epoch{}, fmt.Errorf("epoch answer: field \"headers\"[%d] is not a lower-case header name of at most %d bytes", i, MaxHeaderNameBytes)
		}
	}
	return e, nil
}

// HeaderName says whether s can name a request header as the filter sees
// it: a lower-case HTTP token (RFC 9110) of at most MaxHeaderNameBytes.
func HeaderName(s string) bool {
	if s == "" || len(s) > MaxHeaderNameBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenByte(s[i]) || ('A' <= s[i] && s[i] <= 'Z') {
			return false
		}
	}
	return true
}

func tokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
