package filter

import (
	"github.com/meshward/meshward/api/eaas"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// allowed continues an allowed request, or holds it for its body when EaaS
// needs it: a marked request is decrypted, and a request with a body whose
// check carried the encrypt obligation must have been marked. The
// refusals come before the headers go on.
func (s *stream) allowed(rule string, encrypt bool, inHeaders bool) types.Action {
	setRule(rule)
	on := s.p.cfg.EAAS.Enabled
	switch {
	case !on || !(s.x.marked || encrypt && s.x.hasBody):
		return s.passRequest(inHeaders)
	case s.x.marked && !s.x.hasBody:
		s.refuse(&refusal{403, ReasonEAASDecryptFailed, "a marked request without a body"})
	case s.x.marked && !validMark(s.x.mark):
		s.refuse(&refusal{403, ReasonEAASDecryptFailed, "a mark that is no sidecar's"})
	case !s.x.marked:
		s.refuse(&refusal{403, ReasonEAASPlaintextRefused, "a body that must be encrypted arrived in plain"})
	default:
		return s.replaceRequestBody(inHeaders, nil)
	}
	return types.ActionPause
}

func validMark(v string) bool {
	_, err := eaas.ParseMark(v)
	return err == nil
}

// replaceRequestBody waits for the whole body, which the EaaS step will
// replace. Where Envoy lets headers wait for the body they stay held (and
// the step runs now if the body is all there); otherwise they go on now,
// without content-length and with whatever mark prepare sets.
func (s *stream) replaceRequestBody(inHeaders bool, prepare func()) types.Action {
	s.x.req = needBody
	switch {
	case int64(s.x.bodySize) > s.maxRequestBody():
		s.refuse(tooLarge())
	case s.p.heldBodies:
		if s.x.bodyDone {
			s.requestBodyDone()
		}
	default:
		_ = proxywasm.RemoveHttpRequestHeader("content-length")
		if prepare != nil {
			prepare()
		}
		s.x.reqAhead = true
		if inHeaders {
			return types.ActionContinue
		}
		_ = proxywasm.ResumeHttpRequest()
	}
	return types.ActionPause
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
	if s.x.req == pending {
		// Only allow_on_headers_stop_iteration gives a body callback while
		// the headers are held.
		s.p.heldBodies = true
		if s.p.cfg.EAAS.Direction == Outbound && int64(size) > s.maxRequestBody() {
			s.refuse(tooLarge())
		}
		return types.ActionPause
	}
	s.x.inCallback = true
	defer func() { s.x.inCallback = false }()
	switch {
	case int64(size) > s.maxRequestBody():
		s.refuse(tooLarge())
	case end:
		s.requestBodyDone()
	}
	if s.x.req == passed {
		return types.ActionContinue
	}
	return types.ActionPause
}

func (s *stream) requestBodyDone() {
	if s.p.cfg.EAAS.Direction == Outbound {
		s.outboundBody()
		return
	}
	s.inboundBody()
}

// inboundBody decrypts a marked request's body and delivers the plaintext.
func (s *stream) inboundBody() {
	s.x.req = busy
	env, err := proxywasm.GetHttpRequestBody(0, s.x.bodySize)
	if err != nil {
		s.refuse(&refusal{403, ReasonEAASDecryptFailed, "no body to decrypt"})
		return
	}
	s.decrypt(env, s.x.mark, property("connection", "uri_san_peer_certificate"), nil, 403, func(plain []byte, env eaas.Envelope) {
		if err := proxywasm.ReplaceHttpRequestBody(plain); err != nil {
			s.refuse(&refusal{500, ReasonEAASDecryptFailed, "replacing the body: " + err.Error()})
			return
		}
		if !s.x.reqAhead {
			_ = proxywasm.RemoveHttpRequestHeader("content-length")
		}
		s.x.replyTo, s.x.replySeq = &env.Src, env.Seq
		s.passRequest(false)
	})
}
