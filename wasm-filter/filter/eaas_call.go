package filter

import (
	"time"

	"github.com/meshward/meshward/api/eaas"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
)

// coordAnswer is a coordinator's 200: a frame batch, or the word to forward the
// plaintext; conflict is its 409 (the lease is stale: enrol again).
type coordAnswer struct {
	body     []byte
	forward  bool
	conflict bool
}

// readAnswer classifies the answer of a coordinator callout. No answer and
// 503 are eaas-unavailable whatever fail_mode says: EaaS is not an
// authorizer answer, and a body that cannot be protected is never sent on.
func readAnswer(numHeaders, bodySize, limit int) (coordAnswer, *refusal) {
	if numHeaders == 0 {
		return coordAnswer{}, unavailable("no answer from the coordinator (timeout or failed callout)")
	}
	headers, _ := proxywasm.GetHttpCallResponseHeaders()
	code := headerValue(headers, ":status")
	switch {
	case code == "200" && headerValue(headers, eaas.ForwardHeader) == eaas.ForwardPlaintext:
		if bodySize != 0 {
			return coordAnswer{}, badAnswer("a plaintext-forward answer with a body")
		}
		return coordAnswer{forward: true}, nil
	case code == "200":
		if bodySize > limit {
			return coordAnswer{}, badAnswer("an answer over the limit")
		}
		if bodySize == 0 {
			return coordAnswer{}, nil
		}
		body, err := proxywasm.GetHttpCallResponseBody(0, bodySize)
		if err != nil {
			return coordAnswer{}, badAnswer("reading the answer: " + err.Error())
		}
		return coordAnswer{body: body}, nil
	case code == "409" && !replayed(bodySize):
		return coordAnswer{conflict: true}, nil
	case code == "503":
		return coordAnswer{}, unavailable("the coordinator answered 503")
	}
	if bodySize <= 0 || bodySize > eaas.MaxErrorAnswerBytes {
		return coordAnswer{}, badAnswer("status " + code + " without a reason")
	}
	body, _ := proxywasm.GetHttpCallResponseBody(0, bodySize)
	a, err := eaas.DecodeErrorAnswer(body)
	if err != nil {
		return coordAnswer{}, badAnswer("status " + code + ": " + err.Error())
	}
	return coordAnswer{}, &refusal{403, a.Reason, "the coordinator refused with status " + code}
}

// reasonReplay is the coordinator's 409 for an envelope already opened: it
// shares the status of a stale lease, but enrolling again cannot help, and
// retrying would hand whoever replays envelopes a fresh lease each time.
const reasonReplay = "eaas-replay"

// replayed: a 409's reason says the envelope was opened before.
func replayed(bodySize int) bool {
	if bodySize <= 0 || bodySize > eaas.MaxErrorAnswerBytes {
		return false
	}
	body, _ := proxywasm.GetHttpCallResponseBody(0, bodySize)
	a, err := eaas.DecodeErrorAnswer(body)
	return err == nil && a.Reason == reasonReplay
}

// exchange sends a batch that build makes for a fresh sequence number and
// hands the answer to done. A used-up lease means enrolling first; a 409
// means enrolling again and retrying once.
func (s *stream) exchange(pair uint32, limit int, build func(who) ([]byte, error), done func(who, coordAnswer, *refusal), retried bool) {
	en := s.p.eaas
	en.need(s.id, func(r *refusal) {
		if r != nil {
			done(who{}, coordAnswer{}, r)
			return
		}
		seq, ok := en.seq()
		if !ok { // other streams used the lease up first
			s.exchange(pair, limit, build, done, retried)
			return
		}
		w := who{e: en.e, seq: seq, pair: pair}
		batch, err := build(w)
		if err != nil {
			done(w, coordAnswer{}, unavailable("building the request: "+err.Error()))
			return
		}
		headers := [][2]string{{":method", "POST"}, {":path", eaas.MessagesPath},
			{":authority", s.p.cfg.AuthorizerAuthority}, {"content-type", eaas.ContentType}}
		_, err = proxywasm.DispatchHttpCall(s.p.cfg.EAAS.Cluster, headers, batch, nil, s.p.cfg.EAAS.TimeoutMillis,
			func(numHeaders, bodySize, _ int) {
				if !s.resumeContext() {
					return
				}
				a, r := readAnswer(numHeaders, bodySize, limit)
				if r == nil && a.conflict {
					en.invalidate()
					if !retried {
						s.exchange(pair, limit, build, done, true)
						return
					}
					r = unavailable("the coordinator answered 409 twice")
				}
				done(w, a, r)
			})
		if err != nil {
			done(w, coordAnswer{}, unavailable("dispatching to cluster "+s.p.cfg.EAAS.Cluster+": "+err.Error()))
			return
		}
		s.awaiting(now().Add(2 * time.Duration(s.p.cfg.EAAS.TimeoutMillis) * time.Millisecond))
	})
}
