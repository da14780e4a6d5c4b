package eaas

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// The coordinator's HTTP paths on the authorizer's check port.
const (
	// EnrolmentPath answers GET with the caller's Enrolment (JSON).
	EnrolmentPath = "/v1/eaas/enrolment"
	// MessagesPath takes a POST of a frame batch (ContentType) and answers one.
	MessagesPath = "/v1/eaas/messages"
)

// ForwardHeader on an empty 200 answer says that no replica could serve and
// that the subscriber chose the seed's behaviour: forward the raw data.
// Both ends count and log it.
const (
	ForwardHeader    = "x-meshward-eaas-forward"
	ForwardPlaintext = "plaintext"
)

// ErrorAnswer is the JSON body of every non-200 answer; 503 means that no
// replica could serve.
type ErrorAnswer struct {
	Reason  string `json:"reason"`
	Message string `json:"message,omitempty"`
}

// Limits of an error answer. A reason becomes a response header at the
// filter, so it is a short id of lower-case letters, digits and '-'.
const (
	MaxErrorAnswerBytes = 4 << 10
	MaxReasonBytes      = 64
)

// DecodeErrorAnswer parses and validates an error answer.
func DecodeErrorAnswer(b []byte) (ErrorAnswer, error) {
	var a ErrorAnswer
	if len(b) > MaxErrorAnswerBytes {
		return a, fmt.Errorf("eaas error answer: %d bytes, limit %d", len(b), MaxErrorAnswerBytes)
	}
	if err := decodeStrict(b, &a, errorAnswerKeys); err != nil {
		return ErrorAnswer{}, fmt.Errorf("eaas error answer: %w", err)
	}
	if !ReasonID(a.Reason) {
		return ErrorAnswer{}, fmt.Errorf("eaas error answer: field \"reason\" is not an id of 1 to %d bytes of [a-z0-9-]", MaxReasonBytes)
	}
	return a, nil
}

var errorAnswerKeys = &keys{fields: map[string]*keys{"reason": nil, "message": nil}}

// ReasonID says whether s is a reason id: 1 to MaxReasonBytes of [a-z0-9-].
func ReasonID(s string) bool {
	if s == "" || len(s) > MaxReasonBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// decodeStrict decodes one JSON value into v after checking that its object
// keys are exactly the schema's (no unknown, case-folded or repeated key,
// which encoding/json would accept).
func decodeStrict(b []byte, v any, schema *keys) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return fmt.Errorf("empty body")
	}
	if err := checkKeys(b, schema); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return describeJSONError(err, dec)
	}
	return nil
}
