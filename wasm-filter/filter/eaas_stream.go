package filter

import (
	"errors"
	"time"

	"github.com/meshward/meshward/api/eaas"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// phase is where one direction of a stream stands.
type phase uint8

const (
	// pending: the check is out (request) or nothing is known yet: any
	// body is held, since a body callback that continues would also let
	// the paused headers through.
	pending phase = iota
	// needBody: EaaS needs the whole body; it is buffered until its end.
	needBody
	// busy: an EaaS step is under way.
	busy
	passed
	refused
)

// eaasStream is a stream's EaaS state.
type eaasStream struct {
	req, resp  phase
	inCallback bool // a body callback is running: it continues by its return value
	hasBody    bool
	bodySize   int
	marked     bool
	mark       string
	host       string     // outbound: the :authority's host
	sentTo     *eaas.Peer // outbound: the peer the request body was sealed for
	replyTo    *uint32    // inbound: the source of the decrypted request
	respMark   string     // outbound: the response's mark
	deadline   time.Time  // a coordinator callout is out until then
	bodyDone   bool       // the request body's last byte is buffered
	respSize   int
	gone       bool // the stream is done
}

// takeMark reads and removes the request's mark: the app never sees it.
func (s *stream) takeMark() {
	if v, err := proxywasm.GetHttpRequestHeader(eaas.MarkHeader); err == nil {
		s.x.marked, s.x.mark = true, v
	}
	_ = proxywasm.RemoveHttpRequestHeader(eaas.MarkHeader)
}

// allowed continues an allowed request, or holds it for its body when EaaS
// needs it: a marked request is decrypted, and a request with a body whose
// check carried the encrypt obligation must have been marked.
func (s *stream) allowed(rule string, encrypt bool, inHeaders bool) types.Action {
	setRule(rule)
	on := s.p.cfg.EAAS.Enabled
	switch {
	case !on || !(s.x.marked || encrypt && s.x.hasBody):
		return s.passRequest(inHeaders)
	case s.x.marked && !s.x.hasBody:
		s.refuse(&refusal{403, ReasonEAASDecryptFailed, "a marked request without a body"})
	case !s.x.marked:
		s.refuse(&refusal{403, ReasonEAASPlaintextRefused, "a body that must be encrypted arrived in plain"})
	default:
		s.x.req = needBody
		if int64(s.x.bodySize) > s.p.cfg.EAAS.MaxBodyBytes {
			s.refuse(tooLarge())
		} else if s.x.bodyDone {
			s.inboundBody()
		}
	}
	return types.ActionPause
}

// maxBatchBytes bounds what one coordinator exchange holds in the VM: a
// body travels 2^t times (t ≤ 8).
const maxBatchBytes = 64 << 20

func tooLarge() *refusal { return &refusal{413, ReasonEAASBodyTooLarge, "body over max_body_bytes"} }

func (s *stream) passRequest(inHeaders bool) types.Action {
	s.x.req = passed
	if !inHeaders && !s.x.inCallback {
		_ = proxywasm.ResumeHttpRequest()
	}
	return types.ActionContinue
}

func (s *stream) passResponse() {
	s.x.resp = passed
	if !s.x.inCallback {
		_ = proxywasm.ResumeHttpResponse()
	}
}

// refuse ends the stream with a local answer and logs one line: the
// reason and what happened, never a body, token or key.
func (s *stream) refuse(r *refusal) {
	proxywasm.LogWarnf("meshward: eaas: refused %d %s: %s", r.status, r.reason, r.msg)
	s.x.req, s.x.resp = refused, refused
	headers := [][2]string{{ReasonHeader, r.reason}, {"content-type", "text/plain"}}
	if err := proxywasm.SendHttpResponse(uint32(r.status), headers, []byte("meshward: refused: "+r.reason+"\n"), -1); err != nil {
		proxywasm.LogErrorf("meshward: sending %d: %v", r.status, err)
	}
}

// OnHttpRequestBody holds the body while the request is undecided or EaaS
// needs it, and passes it once the request was let through.
func (s *stream) OnHttpRequestBody(size int, endOfStream bool) types.Action {
	return s.requestBody(size, endOfStream)
}

// OnHttpRequestTrailers ends the body as end_of_stream would.
func (s *stream) OnHttpRequestTrailers(int) types.Action {
	if s.x.req == passed {
		return types.ActionContinue
	}
	return s.requestBody(s.x.bodySize, true)
}

func (s *stream) requestBody(size int, end bool) types.Action {
	switch s.x.req {
	case passed:
		return types.ActionContinue
	case busy, refused:
		return types.ActionPause
	}
	s.x.bodySize = size
	s.x.bodyDone = end
	if s.x.req != needBody {
		return types.ActionPause
	}
	s.x.inCallback = true
	defer func() { s.x.inCallback = false }()
	switch {
	case int64(size) > s.p.cfg.EAAS.MaxBodyBytes:
		s.refuse(tooLarge())
	case end && s.p.cfg.EAAS.Direction == Outbound:
		s.outboundBody()
	case end:
		s.inboundBody()
	}
	if s.x.req == passed {
		return types.ActionContinue
	}
	return types.ActionPause
}

// inboundBody decrypts a marked request's body and delivers the plaintext.
func (s *stream) inboundBody() {
	s.x.req = busy
	env, err := proxywasm.GetHttpRequestBody(0, s.x.bodySize)
	if err != nil {
		s.refuse(&refusal{403, ReasonEAASDecryptFailed, "no body to decrypt"})
		return
	}
	s.decrypt(env, s.x.mark, property("connection", "uri_san_peer_certificate"), nil, 403, func(plain []byte, src uint32) {
		if err := proxywasm.ReplaceHttpRequestBody(plain); err != nil {
			s.refuse(&refusal{500, ReasonEAASDecryptFailed, "replacing the body: " + err.Error()})
			return
		}
		_ = proxywasm.RemoveHttpRequestHeader("content-length")
		s.x.replyTo = &src
		s.passRequest(false)
	})
}

// decrypt drops, without any callout to the coordinator, an envelope that
// does not parse or does not fit (Scenario 2), then has the coordinator
// open it. wantSrc, when set, names the only source accepted (once
// enrolled).
func (s *stream) decrypt(body []byte, mark, peerCert string, wantSrc func() (uint32, bool), status int, done func([]byte, uint32)) {
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
				done(plain, env.Src)
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
	s.exchange(pair, limit+frameSlack+64,
		func(w who) ([]byte, error) { return encryptBatch(w, plain) },
		func(w who, a coordAnswer, r *refusal) {
			switch {
			case r != nil:
				s.refuse(r)
			case a.forward:
				proxywasm.LogWarnf("meshward: eaas: the coordinator could not serve; forwarding plaintext as subscriber %d chose", w.e.Subscriber)
				done(nil, true)
			default:
				env, err := parseEncryptAnswer(w, a.body, limit+64)
				if err != nil {
					s.refuse(badAnswer("encryption answer: " + err.Error()))
					return
				}
				done(env, false)
			}
		}, false)
}

// resumeContext makes the stream's context effective for a callout's
// answer; false when the stream was answered or is gone.
func (s *stream) resumeContext() bool {
	delete(s.p.awaiting, s.id)
	if s.x.req == refused || s.x.resp == refused || s.x.gone {
		return false
	}
	return proxywasm.SetEffectiveContext(s.id) == nil
}

// awaiting registers a callout's deadline: if its answer never comes (Envoy
// drops it when the stream that sent a shared callout is gone), OnTick
// answers the stream with 503.
func (s *stream) awaiting(deadline time.Time) {
	s.x.deadline = deadline
	s.p.awaiting[s.id] = s
}

func (p *plugin) expireAwaiting(t time.Time) {
	for id, s := range p.awaiting {
		if t.After(s.x.deadline) {
			delete(p.awaiting, id)
			if proxywasm.SetEffectiveContext(id) == nil {
				s.refuse(unavailable("coordinator answer overdue"))
			}
		}
	}
}

// OnHttpStreamDone forgets the stream.
func (s *stream) OnHttpStreamDone() {
	s.x.gone = true
	delete(s.p.awaiting, s.id)
}
