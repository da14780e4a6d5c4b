package filter

import (
	"time"

	"github.com/meshward/meshward/api/eaas"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
)

// refusal is how an EaaS step ends a stream: a status and a reason id, and
// a message for the log that holds nothing secret.
type refusal struct {
	status int
	reason string
	msg    string
}

// Reason ids of the filter's EaaS step.
const (
	ReasonEAASUnavailable      = "eaas-unavailable"
	ReasonEAASBadAnswer        = "eaas-bad-answer"
	ReasonEAASDecryptFailed    = "eaas-decrypt-failed"
	ReasonEAASFloodDropped     = "eaas-flood-dropped"
	ReasonEAASPlaintextRefused = "eaas-plaintext-refused"
	ReasonEAASBodyTooLarge     = "eaas-body-too-large"
)

func unavailable(msg string) *refusal { return &refusal{503, ReasonEAASUnavailable, msg} }
func badAnswer(msg string) *refusal   { return &refusal{502, ReasonEAASBadAnswer, msg} }

// enroller holds the filter's enrolment, fetched lazily on the first
// request that needs it and again when the sequence lease is used up or the
// coordinator answers 409. The token stays in memory and is never logged.
type enroller struct {
	p       *plugin
	e       *eaas.Enrolment
	peers   *peerIndex
	next    uint64 // next sequence number of the lease
	left    uint64 // numbers left in the lease
	pending time.Time
	waiters []waiter
}

type waiter struct {
	id uint32
	fn func(*refusal)
}

// need runs fn once the enrolment has a sequence number left: at once, or
// from the enrolment answer with id's context made effective.
func (en *enroller) need(id uint32, fn func(*refusal)) {
	if en.e != nil && en.left > 0 {
		fn(nil)
		return
	}
	en.waiters = append(en.waiters, waiter{id, fn})
	if !en.pending.IsZero() {
		return
	}
	headers := [][2]string{{":method", "GET"}, {":path", eaas.EnrolmentPath}, {":authority", en.p.cfg.AuthorizerAuthority}}
	if _, err := proxywasm.DispatchHttpCall(en.p.cfg.EAAS.Cluster, headers, nil, nil, en.p.cfg.EAAS.TimeoutMillis, en.onAnswer); err != nil {
		en.finish(unavailable("dispatching the enrolment: " + err.Error()))
		return
	}
	en.pending = now()
}

// seq takes the next sequence number; ok is false when the lease is used up.
func (en *enroller) seq() (uint64, bool) {
	if en.e == nil || en.left == 0 {
		return 0, false
	}
	s := en.next
	en.next++
	en.left--
	return s, true
}

// invalidate makes the next need enrol again (the coordinator answered 409).
func (en *enroller) invalidate() { en.left = 0 }

// bodyLimit is the smaller of the configured and the enrolled limit.
func (en *enroller) bodyLimit() int {
	limit := en.p.cfg.EAAS.MaxBodyBytes
	if en.e != nil && en.e.MaxBodyBytes < limit {
		limit = en.e.MaxBodyBytes
	}
	return int(limit)
}

func (en *enroller) onAnswer(numHeaders, bodySize, _ int) {
	en.pending = time.Time{}
	a, r := readAnswer(numHeaders, bodySize, eaas.MaxEnrolmentBytes)
	switch {
	case r != nil:
	case a.conflict || a.forward:
		r = unavailable("enrolment: the coordinator answered 409 or plaintext-forward")
	case a.body == nil:
		r = badAnswer("enrolment: an empty answer")
	}
	if r != nil {
		en.finish(r)
		return
	}
	e, err := eaas.DecodeEnrolment(a.body)
	if err != nil {
		en.finish(badAnswer(err.Error()))
		return
	}
	en.e, en.peers, en.next, en.left = &e, indexPeers(&e), e.Seq.Start, e.Seq.Count
	proxywasm.LogInfof("meshward: eaas: enrolled: subscriber %d, requester %d, %d peers, lease of %d", e.Subscriber, e.Requester, len(e.Peers), e.Seq.Count)
	en.finish(nil)
}

// finish runs the waiters, each in its own stream's context.
func (en *enroller) finish(r *refusal) {
	ws := en.waiters
	en.waiters = nil
	for _, w := range ws {
		if proxywasm.SetEffectiveContext(w.id) != nil {
			continue // the stream is gone
		}
		w.fn(r)
	}
}

// expire fails the waiters of an enrolment whose answer is overdue: Envoy
// drops a callout's answer when the stream that sent it is gone.
func (en *enroller) expire(t time.Time) {
	if en.pending.IsZero() || t.Sub(en.pending) < 2*time.Duration(en.p.cfg.EAAS.TimeoutMillis)*time.Millisecond {
		return
	}
	en.pending = time.Time{}
	en.finish(unavailable("enrolment answer overdue"))
}
