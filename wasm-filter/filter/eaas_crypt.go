package filter

import (
	"errors"

	"github.com/meshward/meshward/api/eaas"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
)

// decrypt drops, without any callout to the coordinator, an envelope that
// does not parse or does not fit (Scenario 2), then has the coordinator
// open it. wantSrc, when set, names the only source accepted (once
// enrolled).
func (s *stream) decrypt(body []byte, mark, peerCert string, wantSrc func() (uint32, bool), status int, done func([]byte, eaas.Envelope)) {
	sub, err := eaas.ParseMark(mark)
	if err != nil {
		s.refuse(&refusal{status, ReasonEAASDecryptFailed, err.Error()})
		return
	}
	env, err := eaas.ParseEnvelope(body)
	if err != nil {
		s.refuse(&refusal{status, ReasonEAASDecryptFailed, err.Error()})
		return
	}
	en := s.p.eaas
	en.need(s.id, func(r *refusal) {
		if r != nil {
			s.refuse(r)
			return
		}
		err := floodCheck(en.e, en.peers, sub, env, peerCert)
		if err == nil && wantSrc != nil {
			if want, ok := wantSrc(); !ok || env.Src != want {
				err = errors.New("not from the peer the request went to")
			}
		}
		if err != nil {
			s.refuse(&refusal{status, ReasonEAASFloodDropped, "dropped before any callout: " + err.Error()})
			return
		}
		limit := en.bodyLimit()
		s.exchange(env.Src, min(en.e.Widths.Tokens()*(limit+frameSlack), maxBatchBytes),
			func(w who) ([]byte, error) { return decryptBatch(w, body) },
			func(w who, a coordAnswer, r *refusal) {
				if r == nil && a.forward {
					r = unavailable("the coordinator could not decrypt (plaintext forward)")
				}
				if r != nil {
					s.refuse(r)
					return
				}
				plain, err := parseDecryptAnswer(w, a.body, limit)
				if err != nil {
					s.refuse(badAnswer("decryption answer: " + err.Error()))
					return
				}
				done(plain, env)
			}, false)
	})
}

// encrypt has the coordinator seal plain for pair; forward says that it
// could not and the subscriber chose to forward plaintext.
func (s *stream) encrypt(plain []byte, pair uint32, done func(envelope []byte, forward bool)) {
	en := s.p.eaas
	limit := en.bodyLimit()
	if len(plain) > limit || len(plain) > maxBatchBytes>>en.e.Widths.T {
		s.refuse(tooLarge())
		return
	}
	s.exchange(pair, limit+frameSlack+envelopeSlack,
		func(w who) ([]byte, error) { return encryptBatch(w, plain) },
		func(w who, a coordAnswer, r *refusal) {
			switch {
			case r != nil:
				s.refuse(r)
			case a.forward:
				proxywasm.LogWarnf("meshward: eaas: the coordinator could not serve; forwarding plaintext as subscriber %d chose", w.e.Subscriber)
				done(nil, true)
			default:
				env, err := parseEncryptAnswer(w, a.body, limit+envelopeSlack)
				if err != nil {
					s.refuse(badAnswer("encryption answer: " + err.Error()))
					return
				}
				done(env, false)
			}
		}, false)
}
