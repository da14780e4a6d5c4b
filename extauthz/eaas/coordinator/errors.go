package coordinator

import "fmt"

// Kind classifies a refusal so that transports can answer with their own
// status (HTTP or gRPC) without the coordinator knowing either.
type Kind int

const (
	// KindBadRequest: the frames do not parse or do not fit each other.
	KindBadRequest Kind = iota + 1
	// KindForbidden: the caller may not ask this (identity, membership, token).
	KindForbidden
	// KindStale: the sequence number is not in a live lease or was used; the
	// requester should enrol again.
	KindStale
	// KindTooLarge: more data than the subscriber's bound.
	KindTooLarge
	// KindUnavailable: no replica could serve (fail-closed).
	KindUnavailable
	// KindFailed: the cryptography refused (a ciphertext that does not open).
	KindFailed
)

// Reason ids, shared with the filter and the metrics.
const (
	ReasonNotMember        = "eaas-not-member"
	ReasonIdentityMismatch = "eaas-identity-mismatch"
	ReasonMalformed        = "eaas-malformed"
	ReasonNoRealMessage    = "eaas-no-real-message"
	ReasonStale            = "eaas-stale-sequence"
	ReasonReplay           = "eaas-replay"
	ReasonTooLarge         = "eaas-body-too-large"
	ReasonUnavailable      = "eaas-unavailable"
	ReasonDecryptFailed    = "eaas-decrypt-failed"
	ReasonWrongPair        = "eaas-wrong-pair"
)

// Error is a refused request: a reason id for the requester and metrics, a
// kind for the transport, and what went wrong (never secret material).
type Error struct {
	Kind   Kind
	Reason string
	Msg    string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Reason, e.Msg) }

func refuse(kind Kind, reason, format string, args ...any) *Error {
	return &Error{Kind: kind, Reason: reason, Msg: fmt.Sprintf(format, args...)}
}
