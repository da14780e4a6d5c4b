package filter

import (
	"bytes"
	"testing"

	"github.com/meshward/meshward/api/check"
	"github.com/meshward/meshward/api/eaas"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// The tests here drive the filter as Envoy does by default (ABI 0.2 without
// allow_on_headers_stop_iteration): after a Pause in a headers callback no
// body callback comes until the filter resumes. A filter that waits in the
// headers for its body hangs there.

// defaultInbound sends a request's headers to the inbound filter and answers
// its check with resp; the caller feeds the body, if any, afterwards.
func defaultInbound(t *testing.T, host proxytest.HostEmulator, mark string, hasBody bool, resp check.Response) uint32 {
	t.Helper()
	id := host.InitializeHttpContext()
	headers := post("orders")
	if mark != "" {
		headers = append(headers, [2]string{eaas.MarkHeader, mark})
	}
	if a := host.CallOnRequestHeaders(id, headers, !hasBody); a != types.ActionPause {
		t.Fatalf("headers %v, want Pause while the check is out", a)
	}
	host.CallOnHttpCallResponse(lastCallout(t, host, id, check.Path).CalloutID, ok200, nil, answer(t, resp))
	return id
}

// headersWentAhead asserts that the request's headers were resumed before
// their body, without the mark (inbound) and without a content-length.
func headersWentAhead(t *testing.T, host proxytest.HostEmulator, id uint32) {
	t.Helper()
	if a := host.GetCurrentHttpStreamAction(id); a != types.ActionContinue {
		t.Fatalf("headers %v: under Envoy's default they must go on before the body comes", a)
	}
	if h := host.GetCurrentRequestHeaders(id); headerValue(h, "content-length") != "" {
		t.Fatalf("headers went on with a content-length the new body will not have: %v", h)
	}
}

// feed delivers body in two callbacks, each of which must hold it, and
// answers an enrolment the last callback started.
func feed(t *testing.T, host proxytest.HostEmulator, c *coordinator, id uint32, body []byte, requester uint32) {
	t.Helper()
	half := len(body) / 2
	if a := host.CallOnRequestBody(id, body[:half], false); a != types.ActionPause {
		t.Fatalf("first part of the body: %v, want Pause (buffer)", a)
	}
	if a := host.CallOnRequestBody(id, body[half:], true); a != types.ActionPause && host.GetSentLocalResponse(id) == nil {
		t.Fatalf("end of the body: %v, want Pause while the coordinator works", a)
	}
	if cs := host.GetCalloutAttributesFromContext(id); len(cs) > 0 && headerValue(cs[len(cs)-1].Headers, ":path") == eaas.EnrolmentPath {
		host.CallOnHttpCallResponse(cs[len(cs)-1].CalloutID, ok200, nil, c.enrolBody(requester))
	}
}

// defaultSeal runs a request with a body through a fresh outbound filter
// and returns the envelope it sends and the host (still enrolled).
func defaultSeal(t *testing.T, c *coordinator, upstreamCert string) (proxytest.HostEmulator, uint32, []byte) {
	t.Helper()
	host := eaasHost(t, outboundConfig, "", upstreamCert)
	id := host.InitializeHttpContext()
	if a := host.CallOnRequestHeaders(id, post(ordersHost+":8080", [2]string{eaas.MarkHeader, "v1; subscriber=99"}), false); a != types.ActionPause {
		t.Fatalf("headers %v, want Pause while enrolling", a)
	}
	if n := calloutsTo(host, id, eaas.MessagesPath); n != 0 {
		t.Fatalf("%d messages callouts before the body", n)
	}
	host.CallOnHttpCallResponse(lastCallout(t, host, id, eaas.EnrolmentPath).CalloutID, ok200, nil, c.enrolBody(1))
	headersWentAhead(t, host, id)
	if m := headerValue(host.GetCurrentRequestHeaders(id), eaas.MarkHeader); m != "v1; subscriber=54" {
		t.Fatalf("headers went on with the mark %q, want the filter's", m)
	}
	feed(t, host, c, id, plaintext, 1)
	msg := lastCallout(t, host, id, eaas.MessagesPath)
	host.CallOnHttpCallResponse(msg.CalloutID, ok200, nil, c.encryptAnswer(msg.Body))
	if a := host.GetCurrentHttpStreamAction(id); a != types.ActionContinue {
		t.Fatalf("stream %v after sealing", a)
	}
	return host, id, host.GetCurrentRequestBody(id)
}

func TestDefaultModeOutboundSealsAndOpens(t *testing.T) {
	c := newCoordinator(t)
	host, id, wire := defaultSeal(t, c, ordersCert)
	env, plain := c.open(wire)
	if !bytes.Equal(plain, plaintext) || env.Src != 1 || env.Dst != 2 {
		t.Fatalf("envelope %+v opens to %q", env, plain)
	}
	// The marked response: its headers go on at once, the body waits.
	reply := []byte(`{"order":7}`)
	sealed := c.sealAnswer(wire, reply)
	if a := host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}, {eaas.MarkHeader, "v1; subscriber=54"}, {"content-length", "99"}}, false); a != types.ActionContinue {
		t.Fatalf("response headers %v, want Continue under Envoy's default", a)
	}
	if h := host.GetCurrentResponseHeaders(id); headerValue(h, eaas.MarkHeader) != "" || headerValue(h, "content-length") != "" {
		t.Fatalf("response headers went on as %v", h)
	}
	if a := host.CallOnResponseBody(id, sealed, true); a != types.ActionPause {
		t.Fatalf("response body %v, want Pause while decrypting", a)
	}
	msg := lastCallout(t, host, id, eaas.MessagesPath)
	host.CallOnHttpCallResponse(msg.CalloutID, ok200, nil, c.decryptAnswer(msg.Body))
	if !bytes.Equal(host.GetCurrentResponseBody(id), reply) || host.GetCurrentHttpStreamAction(id) != types.ActionContinue {
		t.Fatalf("the app got %q", host.GetCurrentResponseBody(id))
	}
	// Enrolled, the next request to a peer is decided in its headers.
	id = host.InitializeHttpContext()
	if a := host.CallOnRequestHeaders(id, post("orders"), false); a != types.ActionContinue {
		t.Fatalf("enrolled: headers %v", a)
	}
	if headerValue(host.GetCurrentRequestHeaders(id), eaas.MarkHeader) != "v1; subscriber=54" {
		t.Fatal("enrolled: headers went on unmarked")
	}
	feed(t, host, c, id, plaintext, 1)
	if n := calloutsTo(host, id, eaas.MessagesPath); n != 1 {
		t.Fatalf("%d messages callouts, want the encryption", n)
	}
}

func TestDefaultModeInboundOpensAndSeals(t *testing.T) {
	c := newCoordinator(t)
	wire := c.seal(1, 2, 9, c.token, plaintext)
	host := eaasHost(t, inboundConfig, frontendCert, "")
	id := defaultInbound(t, host, "v1; subscriber=54", true, allowed)
	headersWentAhead(t, host, id)
	if headerValue(host.GetCurrentRequestHeaders(id), eaas.MarkHeader) != "" {
		t.Fatal("the app sees the mark")
	}
	feed(t, host, c, id, wire, 2)
	msg := lastCallout(t, host, id, eaas.MessagesPath)
	if m := c.frames(msg.Body, 1)[0]; !bytes.Equal(m.Data, wire) {
		t.Fatal("the decryption request does not carry the whole envelope")
	}
	host.CallOnHttpCallResponse(msg.CalloutID, ok200, nil, c.decryptAnswer(msg.Body))
	if a := host.GetCurrentHttpStreamAction(id); a != types.ActionContinue || !bytes.Equal(host.GetCurrentRequestBody(id), plaintext) {
		t.Fatalf("stream %v, body %q: want the plaintext for the app", a, host.GetCurrentRequestBody(id))
	}
	reply := []byte(`{"order":7,"status":"paid"}`)
	if a := host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}, {eaas.MarkHeader, "v1; subscriber=99"}, {"content-length", "27"}}, false); a != types.ActionContinue {
		t.Fatalf("response headers %v, want Continue under Envoy's default", a)
	}
	if h := host.GetCurrentResponseHeaders(id); headerValue(h, eaas.MarkHeader) != "v1; subscriber=54" || headerValue(h, "content-length") != "" {
		t.Fatalf("response headers went on as %v", h)
	}
	if a := host.CallOnResponseBody(id, reply, true); a != types.ActionPause {
		t.Fatalf("response body %v, want Pause while encrypting", a)
	}
	msg = lastCallout(t, host, id, eaas.MessagesPath)
	host.CallOnHttpCallResponse(msg.CalloutID, ok200, nil, c.encryptAnswer(msg.Body))
	if env, plain := c.openAnswer(host.GetCurrentResponseBody(id), wire); !bytes.Equal(plain, reply) || env.Src != 2 || env.Dst != 1 {
		t.Fatalf("response envelope %+v opens to %q", env, plain)
	}
}

// TestInboundAttacks under Envoy's default: the same refusals, the flood
// drop still before any call to the coordinator's messages, and refusals
// that need no body still before the headers go on.
func TestDefaultModeInboundAttacks(t *testing.T) {
	c := newCoordinator(t)
	good := func(f func(*eaas.Envelope)) []byte {
		e, err := eaas.ParseEnvelope(c.seal(1, 2, 9, c.token, plaintext))
		if err != nil {
			t.Fatal(err)
		}
		f(&e)
		return e.Marshal()
	}
	must := check.Response{Allow: true, Reason: "allowed", Obligations: []string{"encrypt"}}
	tests := []struct {
		name         string
		peerCert     string
		mark         string
		resp         check.Response
		body         []byte
		status       uint32
		reason       string
		beforeHeader bool // refused before the headers went on
	}{
		{"plaintext where encryption is required", frontendCert, "", must, plaintext, 403, ReasonEAASPlaintextRefused, true},
		{"mark without body", frontendCert, "v1; subscriber=54", allowed, nil, 403, ReasonEAASDecryptFailed, true},
		{"forged mark on a plain body", frontendCert, "v1; subscriber=54", must, plaintext, 403, ReasonEAASDecryptFailed, false},
		{"truncated envelope", frontendCert, "v1; subscriber=54", allowed, good(func(*eaas.Envelope) {})[:9], 403, ReasonEAASDecryptFailed, false},
		{"garbled mark", frontendCert, "v1; subscriber=54x", allowed, good(func(*eaas.Envelope) {}), 403, ReasonEAASDecryptFailed, true},
		{"wrong token", frontendCert, "v1; subscriber=54", allowed, good(func(e *eaas.Envelope) { e.Token = 2 }), 403, ReasonEAASFloodDropped, false},
		{"wrong dst", frontendCert, "v1; subscriber=54", allowed, good(func(e *eaas.Envelope) { e.Dst = 3 }), 403, ReasonEAASFloodDropped, false},
		{"another subscriber", frontendCert, "v1; subscriber=54", allowed, good(func(e *eaas.Envelope) { e.Subscriber = 55 }), 403, ReasonEAASFloodDropped, false},
		{"mark of another subscriber", frontendCert, "v1; subscriber=55", allowed, good(func(*eaas.Envelope) {}), 403, ReasonEAASFloodDropped, false},
		{"src not the peer certificate's", catalogCert, "v1; subscriber=54", allowed, good(func(*eaas.Envelope) {}), 403, ReasonEAASFloodDropped, false},
		{"src no member", frontendCert, "v1; subscriber=54", allowed, good(func(e *eaas.Envelope) { e.Src = 9 }), 403, ReasonEAASFloodDropped, false},
		{"no peer certificate", "", "v1; subscriber=54", allowed, good(func(*eaas.Envelope) {}), 403, ReasonEAASFloodDropped, false},
		{"body over the limit", frontendCert, "v1; subscriber=54", allowed, bytes.Repeat([]byte("a"), 4096+envelopeSlack+1), 413, ReasonEAASBodyTooLarge, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			host := eaasHost(t, inboundConfig, tc.peerCert, "")
			id := defaultInbound(t, host, tc.mark, tc.body != nil, tc.resp)
			if tc.beforeHeader {
				refusedWith(t, host, id, tc.status, tc.reason)
				return
			}
			headersWentAhead(t, host, id)
			feed(t, host, c, id, tc.body, 2)
			refusedWith(t, host, id, tc.status, tc.reason)
			if n := calloutsTo(host, id, eaas.MessagesPath); n != 0 {
				t.Fatalf("%d calls to the coordinator's messages: the drop must come first", n)
			}
			if bytes.Equal(host.GetCurrentRequestBody(id), plaintext) && tc.reason != ReasonEAASDecryptFailed {
				t.Fatal("the body was replaced")
			}
		})
	}
}

// A replayed envelope: the coordinator answers 409 eaas-replay. That is no
// stale lease: the filter refuses with the reason and does not enrol again
// (a fresh lease for every replay would let anyone burn the sequence space).
func TestReplayIsRefusedWithoutReenrolling(t *testing.T) {
	c := newCoordinator(t)
	host := eaasHost(t, inboundConfig, frontendCert, "")
	id := defaultInbound(t, host, "v1; subscriber=54", true, allowed)
	feed(t, host, c, id, c.seal(1, 2, 9, c.token, plaintext), 2)
	host.CallOnHttpCallResponse(lastCallout(t, host, id, eaas.MessagesPath).CalloutID, [][2]string{{":status", "409"}}, nil,
		[]byte(`{"reason":"eaas-replay","message":"envelope 1/9: not sealed here or already opened"}`))
	refusedWith(t, host, id, 403, "eaas-replay")
	if n := calloutsTo(host, id, eaas.EnrolmentPath); n != 1 {
		t.Fatalf("%d enrolments, want only the first", n)
	}
}

// Once the marked headers went on, the coordinator's plaintext-forward
// cannot be honoured: the body would reach the other end as an envelope it
// is not. The stream is refused (Envoy resets it) rather than sent in plain.
func TestDefaultModeForwardAfterHeadersIsRefused(t *testing.T) {
	forward := [][2]string{{":status", "200"}, {eaas.ForwardHeader, eaas.ForwardPlaintext}}
	t.Run("request", func(t *testing.T) {
		c := newCoordinator(t)
		host := eaasHost(t, outboundConfig, "", ordersCert)
		id := host.InitializeHttpContext()
		host.CallOnRequestHeaders(id, post("orders"), false)
		host.CallOnHttpCallResponse(lastCallout(t, host, id, eaas.EnrolmentPath).CalloutID, ok200, nil, c.enrolBody(1))
		headersWentAhead(t, host, id)
		feed(t, host, c, id, plaintext, 1)
		host.CallOnHttpCallResponse(lastCallout(t, host, id, eaas.MessagesPath).CalloutID, forward, nil, nil)
		refusedWith(t, host, id, 503, ReasonEAASUnavailable)
		if bytes.Equal(host.GetCurrentRequestBody(id), plaintext) && host.GetCurrentHttpStreamAction(id) == types.ActionContinue {
			t.Fatal("plaintext sent under the mark")
		}
	})
	t.Run("response", func(t *testing.T) {
		c := newCoordinator(t)
		host := eaasHost(t, inboundConfig, frontendCert, "")
		id := defaultInbound(t, host, "v1; subscriber=54", true, allowed)
		feed(t, host, c, id, c.seal(1, 2, 9, c.token, plaintext), 2)
		msg := lastCallout(t, host, id, eaas.MessagesPath)
		host.CallOnHttpCallResponse(msg.CalloutID, ok200, nil, c.decryptAnswer(msg.Body))
		host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false)
		host.CallOnResponseBody(id, []byte("receipt"), true)
		host.CallOnHttpCallResponse(lastCallout(t, host, id, eaas.MessagesPath).CalloutID, forward, nil, nil)
		refusedWith(t, host, id, 503, ReasonEAASUnavailable)
	})
}

// A man in the middle answering the frontend under Envoy's default: a plain
// body is refused before its headers go on; a marked one from another
// member is dropped before any callout once its body came.
func TestDefaultModeOutboundResponseAttacks(t *testing.T) {
	c := newCoordinator(t)
	t.Run("plain response", func(t *testing.T) {
		host, id, _ := defaultSeal(t, c, ordersCert)
		if a := host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false); a == types.ActionContinue {
			t.Fatal("the headers of a plain answer to an encrypted request went on")
		}
		refusedWith(t, host, id, 502, ReasonEAASPlaintextRefused)
	})
	t.Run("the destination's refusal keeps its status and reason, not its body", func(t *testing.T) {
		host, id, _ := defaultSeal(t, c, ordersCert)
		host.CallOnResponseHeaders(id, [][2]string{{":status", "403"}, {ReasonHeader, "no-matching-rule"}}, false)
		refusedWith(t, host, id, 403, "no-matching-rule")
	})
	t.Run("a plain answer may not pose as a refusal with a bad reason", func(t *testing.T) {
		host, id, _ := defaultSeal(t, c, ordersCert)
		host.CallOnResponseHeaders(id, [][2]string{{":status", "500"}, {ReasonHeader, "card=4111 1111"}}, false)
		refusedWith(t, host, id, 502, ReasonEAASPlaintextRefused)
	})
	t.Run("envelope from catalog", func(t *testing.T) {
		host, id, _ := defaultSeal(t, c, catalogCert)
		host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}, {eaas.MarkHeader, "v1; subscriber=54"}}, false)
		host.CallOnResponseBody(id, c.seal(3, 1, 4, c.token, []byte("fake")), true)
		refusedWith(t, host, id, 502, ReasonEAASFloodDropped)
		if n := calloutsTo(host, id, eaas.MessagesPath); n != 1 {
			t.Fatalf("%d messages callouts, want only the request's", n)
		}
	})
}

// A body callback while the headers are held comes only from an Envoy with
// allow_on_headers_stop_iteration; from then on the filter keeps headers
// until their body is replaced, requests and responses alike.
func TestHeldBodyKeepsHeadersHeld(t *testing.T) {
	c := newCoordinator(t)
	host := eaasHost(t, inboundConfig, frontendCert, "")
	first := inboundRequest(t, host, c, "v1; subscriber=54", c.seal(1, 2, 9, c.token, plaintext), allowed)
	if a := host.GetCurrentHttpStreamAction(first); a == types.ActionContinue {
		t.Fatal("headers went on although their body was already held")
	}
	host.CallOnHttpCallResponse(lastCallout(t, host, first, eaas.MessagesPath).CalloutID, ok200, nil,
		c.decryptAnswer(lastCallout(t, host, first, eaas.MessagesPath).Body))
	id := defaultInbound(t, host, "v1; subscriber=54", true, allowed)
	if a := host.GetCurrentHttpStreamAction(id); a != types.ActionPause {
		t.Fatalf("learned: headers %v, want held for the body", a)
	}
	if a := host.CallOnRequestBody(id, c.seal(1, 2, 10, c.token, plaintext), true); a != types.ActionPause {
		t.Fatalf("body %v", a)
	}
	msg := lastCallout(t, host, id, eaas.MessagesPath)
	host.CallOnHttpCallResponse(msg.CalloutID, ok200, nil, c.decryptAnswer(msg.Body))
	if h := host.GetCurrentRequestHeaders(id); headerValue(h, "content-length") != "" || host.GetCurrentHttpStreamAction(id) != types.ActionContinue {
		t.Fatalf("decrypted: headers %v", h)
	}
	if a := host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false); a != types.ActionPause {
		t.Fatalf("learned: response headers %v, want held for the body", a)
	}
}
