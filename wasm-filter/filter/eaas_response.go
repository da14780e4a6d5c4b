package filter

import (
	"github.com/meshward/meshward/api/eaas"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
	"strconv"
)

// OnHttpResponseHeaders: at the destination, a decrypted request's response
// body is held to be encrypted back to its source; at the source, a marked
// response is held to be decrypted, and a plain body answering an
// encrypted request is refused. Only the filter marks: a mark or a
// plaintext-forward word the app set is removed.
func (s *stream) OnHttpResponseHeaders(_ int, endOfStream bool) types.Action {
	if s.x.resp == refused {
		return types.ActionContinue // our own local answer
	}
	if s.p.cfg.EAAS.Direction == Outbound {
		return s.outboundResponseHeaders(endOfStream)
	}
	takeHeader(proxywasm.GetHttpResponseHeaders, proxywasm.RemoveHttpResponseHeader, eaas.MarkHeader)
	takeHeader(proxywasm.GetHttpResponseHeaders, proxywasm.RemoveHttpResponseHeader, eaas.ForwardHeader)
	switch {
	case endOfStream:
	case s.x.marked && (s.x.req == needBody || s.x.req == busy):
		// Under Envoy's default the headers went on before the body was
		// decrypted: an app that answers before reading its request would
		// send its body plain, to a source not yet known.
		s.refuse(&refusal{502, ReasonEAASPlaintextRefused, "the app answered an encrypted request before it was decrypted"})
		return types.ActionPause
	case s.x.replyTo != nil:
		return s.replaceResponseBody(func() {
			_ = proxywasm.ReplaceHttpResponseHeader(eaas.MarkHeader, eaas.FormatMark(s.p.eaas.e.Subscriber))
		})
	}
	s.x.resp = passed
	return types.ActionContinue
}

func (s *stream) outboundResponseHeaders(endOfStream bool) types.Action {
	mark, marked := takeOne(takeHeader(proxywasm.GetHttpResponseHeaders, proxywasm.RemoveHttpResponseHeader, eaas.MarkHeader))
	switch {
	case marked && endOfStream:
		s.refuse(&refusal{502, ReasonEAASDecryptFailed, "a marked response without a body"})
		return types.ActionPause
	case marked && s.x.sentTo == nil:
		// Only the answer to a sealed request is sealed: any other is an
		// envelope from elsewhere.
		s.refuse(&refusal{502, ReasonEAASDecryptFailed, "a marked response to a request that was not sealed"})
		return types.ActionPause
	case marked:
		s.x.respMark = mark
		return s.replaceResponseBody(nil)
	case s.x.sentTo != nil && !endOfStream && !s.plaintextForwarded():
		if r := destinationRefusal(); r != nil {
			s.refuse(r) // the caller learns why; the plain body never reaches it
			return types.ActionPause
		}
		s.refuse(&refusal{502, ReasonEAASPlaintextRefused, "a plain response body to an encrypted request"})
		return types.ActionPause
	}
	s.x.resp = passed
	return types.ActionContinue
}

// replaceResponseBody waits for the whole response body, holding the
// headers where Envoy lets them wait for it, else sending them on now
// without content-length and with whatever mark prepare sets.
func (s *stream) replaceResponseBody(prepare func()) types.Action {
	s.x.resp = needBody
	if s.p.heldBodies {
		return types.ActionPause
	}
	_ = proxywasm.RemoveHttpResponseHeader("content-length")
	if prepare != nil {
		prepare()
	}
	s.x.respAhead = true
	return types.ActionContinue
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
	case int64(s.x.respSize) > s.maxResponseBody():
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
		s.sealResponse(body)
		return
	}
	// The source must be the peer the request was sealed for.
	want := func() (uint32, bool) { return s.x.sentTo.Requester, true }
	s.decrypt(body, s.x.respMark, property("upstream", "uri_san_peer_certificate"), want, 502, func(plain []byte, _ eaas.Envelope) {
		plain, err := unbindResponse(s.x.sentSeq, plain)
		if err != nil {
			s.refuse(&refusal{502, ReasonEAASDecryptFailed, err.Error()})
			return
		}
		if s.replaceResponse(plain) {
			s.passResponse()
		}
	})
}

// sealResponse encrypts a response back to the request's source.
func (s *stream) sealResponse(body []byte) {
	s.encrypt(bindResponse(s.x.replySeq, body), *s.x.replyTo, func(env []byte, forward bool) {
		if forward {
			if s.x.respAhead {
				s.refuse(unavailable("the coordinator could not serve (plaintext forward) after the marked headers went on"))
				return
			}
			_ = proxywasm.ReplaceHttpResponseHeader(eaas.ForwardHeader, eaas.ForwardPlaintext)
			s.passResponse()
			return
		}
		if !s.replaceResponse(env) {
			return
		}
		if !s.x.respAhead {
			_ = proxywasm.ReplaceHttpResponseHeader(eaas.MarkHeader, eaas.FormatMark(s.p.eaas.e.Subscriber))
		}
		s.passResponse()
	})
}

func (s *stream) replaceResponse(body []byte) bool {
	if err := proxywasm.ReplaceHttpResponseBody(body); err != nil {
		s.refuse(&refusal{502, ReasonEAASUnavailable, "replacing the response body: " + err.Error()})
		return false
	}
	if !s.x.respAhead {
		_ = proxywasm.RemoveHttpResponseHeader("content-length")
	}
	return true
}

// destinationRefusal is a plain answer that is the destination's own
// refusal (its filter or authorizer denied the sealed request: a 4xx or 5xx
// with a reason id), passed on as the filter's own refusal with that status
// and reason; its body is dropped, so nothing of it travels on in plain.
func destinationRefusal() *refusal {
	headers, err := proxywasm.GetHttpResponseHeaders()
	if err != nil {
		return nil
	}
	status, _ := strconv.Atoi(headerValue(headers, ":status"))
	reason := headerValue(headers, ReasonHeader)
	if status < 400 || status > 599 || !eaas.ReasonID(reason) {
		return nil
	}
	return &refusal{status, reason, "the destination refused the sealed request"}
}
