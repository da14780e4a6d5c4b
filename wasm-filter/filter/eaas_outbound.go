package filter

import (
	"github.com/meshward/meshward/api/eaas"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// outboundHeaders starts a request at the source sidecar: no check (the
// destination checks); a body to a peer is held to be encrypted. Whether
// the host is a peer's is known once enrolled, so the first request with a
// body enrols before its headers go on. A mark from the app is never
// trusted.
func (s *stream) outboundHeaders() types.Action {
	takeHeader(proxywasm.GetHttpRequestHeaders, proxywasm.RemoveHttpRequestHeader, eaas.MarkHeader)
	authority, _ := proxywasm.GetHttpRequestHeader(":authority")
	s.x.host = hostOf(authority)
	en := s.p.eaas
	switch {
	case !s.x.hasBody:
		return s.passRequest(true)
	case en.e != nil:
		return s.sealFor(en.peers.byHost[s.x.host], true)
	}
	s.x.req = pending
	en.need(s.id, func(r *refusal) {
		switch {
		case s.x.req != pending:
		case r != nil:
			s.refuse(r)
		default:
			s.sealFor(en.peers.byHost[s.x.host], false)
		}
	})
	return types.ActionPause
}

// sealFor lets a request to no peer go, and has a body to a peer sealed.
func (s *stream) sealFor(peer *eaas.Peer, inHeaders bool) types.Action {
	if peer == nil {
		return s.passRequest(inHeaders)
	}
	s.x.peer = peer
	return s.replaceRequestBody(inHeaders, func() {
		_ = proxywasm.ReplaceHttpRequestHeader(eaas.MarkHeader, eaas.FormatMark(s.p.eaas.e.Subscriber))
	})
}

// outboundBody seals a request body for its peer and sends the envelope on
// in its place, marked.
func (s *stream) outboundBody() {
	s.x.req = busy
	plain, err := proxywasm.GetHttpRequestBody(0, s.x.bodySize)
	if err != nil && s.x.bodySize > 0 {
		s.refuse(unavailable("reading the body: " + err.Error()))
		return
	}
	s.encrypt(plain, s.x.peer.Requester, func(env []byte, forward bool) {
		switch {
		case forward && s.x.reqAhead:
			s.refuse(unavailable("the coordinator could not serve (plaintext forward) after the marked headers went on"))
			return
		case forward:
			s.passRequest(false)
			return
		}
		sent, err := eaas.ParseEnvelope(env)
		if err != nil { // parseEncryptAnswer parsed it
			s.refuse(badAnswer("encryption answer: " + err.Error()))
			return
		}
		if err := proxywasm.ReplaceHttpRequestBody(env); err != nil {
			s.refuse(unavailable("replacing the body: " + err.Error()))
			return
		}
		if !s.x.reqAhead {
			_ = proxywasm.RemoveHttpRequestHeader("content-length")
			_ = proxywasm.ReplaceHttpRequestHeader(eaas.MarkHeader, eaas.FormatMark(s.p.eaas.e.Subscriber))
		}
		s.x.sentTo, s.x.sentSeq = s.x.peer, sent.Seq
		s.passRequest(false)
	})
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
