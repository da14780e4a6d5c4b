package filter

import (
	"github.com/meshward/meshward/api/eaas"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// outboundHeaders starts a request at the source sidecar: no check (the
// destination checks); a body to a peer is held to be encrypted. A mark
// from the app is never trusted.
func (s *stream) outboundHeaders() types.Action {
	_ = proxywasm.RemoveHttpRequestHeader(eaas.MarkHeader)
	authority, _ := proxywasm.GetHttpRequestHeader(":authority")
	s.x.host = hostOf(authority)
	en := s.p.eaas
	if !s.x.hasBody || en.e != nil && en.peers.byHost[s.x.host] == nil {
		s.x.req = passed
		return types.ActionContinue
	}
	s.x.req = needBody
	return types.ActionPause
}

// outboundBody seals a request body for the peer its host names, marks
// the request and sends the envelope on.
func (s *stream) outboundBody() {
	s.x.req = busy
	en := s.p.eaas
	en.need(s.id, func(r *refusal) {
		if r != nil {
			s.refuse(r)
			return
		}
		peer := en.peers.byHost[s.x.host]
		if peer == nil {
			s.passRequest(false)
			return
		}
		plain, err := proxywasm.GetHttpRequestBody(0, s.x.bodySize)
		if err != nil && s.x.bodySize > 0 {
			s.refuse(unavailable("reading the body: " + err.Error()))
			return
		}
		s.encrypt(plain, peer.Requester, func(env []byte, forward bool) {
			if forward {
				s.passRequest(false)
				return
			}
			if err := proxywasm.ReplaceHttpRequestBody(env); err != nil {
				s.refuse(unavailable("replacing the body: " + err.Error()))
				return
			}
			_ = proxywasm.RemoveHttpRequestHeader("content-length")
			_ = proxywasm.ReplaceHttpRequestHeader(eaas.MarkHeader, eaas.FormatMark(en.e.Subscriber))
			s.x.sentTo = peer
			s.passRequest(false)
		})
	})
}

// OnHttpResponseHeaders: at the destination, a decrypted request's response
// body is held to be encrypted back to its source; at the source, a marked
// response is held to be decrypted, and a plain body answering an
// encrypted request is refused. Only the filter marks: a mark the app set
// is removed.
func (s *stream) OnHttpResponseHeaders(_ int, endOfStream bool) types.Action {
	if s.x.resp == refused {
		return types.ActionContinue // our own local answer
	}
	if s.p.cfg.EAAS.Direction == Outbound {
		return s.outboundResponseHeaders(endOfStream)
	}
	_ = proxywasm.RemoveHttpResponseHeader(eaas.MarkHeader)
	if s.x.replyTo == nil || endOfStream {
		s.x.resp = passed
		return types.ActionContinue
	}
	s.x.resp = needBody
	return types.ActionPause
}

func (s *stream) outboundResponseHeaders(endOfStream bool) types.Action {
	mark, err := proxywasm.GetHttpResponseHeader(eaas.MarkHeader)
	marked := err == nil
	_ = proxywasm.RemoveHttpResponseHeader(eaas.MarkHeader)
	switch {
	case marked && endOfStream:
		s.refuse(&refusal{502, ReasonEAASDecryptFailed, "a marked response without a body"})
		return types.ActionPause
	case marked:
		s.x.respMark, s.x.resp = mark, needBody
		return types.ActionPause
	case s.x.sentTo != nil && !endOfStream && !s.plaintextForwarded():
		s.refuse(&refusal{502, ReasonEAASPlaintextRefused, "a plain response body to an encrypted request"})
		return types.ActionPause
	}
	s.x.resp = passed
	return types.ActionContinue
}

// plaintextForwarded: the destination's coordinator could not serve and the
// subscriber chose to forward plaintext; believed only from the peer the
// request was sealed for, by its certificate.
func (s *stream) plaintextForwarded() bool {
	v, _ := proxywasm.GetHttpResponseHeader(eaas.ForwardHeader)
	cert := property("upstream", "uri_san_peer_certificate")
	if v != eaas.ForwardPlaintext || cert != "spiffe://"+s.x.sentTo.Principal {
		return false
	}
	proxywasm.LogWarnf("meshward: eaas: plaintext response forwarded by the destination's coordinator (subscriber's choice)")
	return true
}

// OnHttpResponseBody holds the body EaaS needs until its end.
func (s *stream) OnHttpResponseBody(size int, endOfStream bool) types.Action {
	return s.responseBody(size, endOfStream)
}

// OnHttpResponseTrailers ends the body as end_of_stream would.
func (s *stream) OnHttpResponseTrailers(int) types.Action {
	if s.x.resp != needBody {
		return types.ActionContinue
	}
	return s.responseBody(-1, true)
}

func (s *stream) responseBody(size int, end bool) types.Action {
	switch s.x.resp {
	case busy:
		return types.ActionPause
	case needBody:
	default:
		return types.ActionContinue
	}
	if size >= 0 {
		s.x.respSize = size
	}
	s.x.inCallback = true
	defer func() { s.x.inCallback = false }()
	switch {
	case int64(s.x.respSize) > s.p.cfg.EAAS.MaxBodyBytes:
		s.refuse(&refusal{502, ReasonEAASBodyTooLarge, "response body over max_body_bytes"})
	case end:
		s.x.resp = busy
		s.protectResponse()
	}
	if s.x.resp == passed {
		return types.ActionContinue
	}
	return types.ActionPause
}

func (s *stream) protectResponse() {
	body, err := proxywasm.GetHttpResponseBody(0, s.x.respSize)
	if err != nil && s.x.respSize > 0 {
		s.refuse(&refusal{502, ReasonEAASUnavailable, "reading the response body: " + err.Error()})
		return
	}
	if s.p.cfg.EAAS.Direction == Inbound {
		s.encrypt(body, *s.x.replyTo, func(env []byte, forward bool) {
			if forward {
				_ = proxywasm.ReplaceHttpResponseHeader(eaas.ForwardHeader, eaas.ForwardPlaintext)
			} else if !s.replaceResponse(env) {
				return
			} else {
				_ = proxywasm.ReplaceHttpResponseHeader(eaas.MarkHeader, eaas.FormatMark(s.p.eaas.e.Subscriber))
			}
			s.passResponse()
		})
		return
	}
	// The source must be the peer the request was sealed for, or else the
	// peer the request's host names.
	want := func() (uint32, bool) {
		p := s.x.sentTo
		if p == nil {
			p = s.p.eaas.peers.byHost[s.x.host]
		}
		if p == nil {
			return 0, false
		}
		return p.Requester, true
	}
	s.decrypt(body, s.x.respMark, property("upstream", "uri_san_peer_certificate"), want, 502, func(plain []byte, _ uint32) {
		if s.replaceResponse(plain) {
			s.passResponse()
		}
	})
}

func (s *stream) replaceResponse(body []byte) bool {
	if err := proxywasm.ReplaceHttpResponseBody(body); err != nil {
		s.refuse(&refusal{502, ReasonEAASUnavailable, "replacing the response body: " + err.Error()})
		return false
	}
	_ = proxywasm.RemoveHttpResponseHeader("content-length")
	return true
}
