package filter

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/meshward/meshward/api/check"
	"github.com/meshward/meshward/api/eaas"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// The red-team attacks on the filter's EaaS step: smuggling around the
// mark, the response direction, the source side.

const goodMark = "v1; subscriber=54"

func marks(headers [][2]string) int {
	n := 0
	for _, h := range headers {
		if h[0] == eaas.MarkHeader {
			n++
		}
	}
	return n
}

// Every spelling of a peer's host reaches the peer, so every one has its
// body sealed; a name that only looks like a peer's goes plain.
func TestOutboundSealsEverySpellingOfAPeer(t *testing.T) {
	tests := []struct {
		authority string
		sealed    bool
	}{
		{"orders", true},
		{"ORDERS", true},
		{"orders:8080", true},
		{"orders.", true},
		{ordersHost + ".", true},
		{"Orders.Shop.Svc.Cluster.Local.:443", true},
		{"orders..", false},
		{"orders.evil", false},
		{"payments.shop.svc.cluster.local", false},
	}
	for _, tc := range tests {
		t.Run(tc.authority, func(t *testing.T) {
			c := newCoordinator(t)
			host := eaasHost(t, outboundConfig, "", ordersCert)
			id := host.InitializeHttpContext()
			app := post(tc.authority, [2]string{eaas.MarkHeader, "v1; subscriber=99"}, [2]string{eaas.MarkHeader, goodMark})
			if a := host.CallOnRequestHeaders(id, app, false); a != types.ActionPause {
				t.Fatalf("headers %v, want Pause while enrolling", a)
			}
			host.CallOnHttpCallResponse(lastCallout(t, host, id, eaas.EnrolmentPath).CalloutID, ok200, nil, c.enrolBody(1))
			h := host.GetCurrentRequestHeaders(id)
			if tc.sealed {
				if marks(h) != 1 || headerValue(h, eaas.MarkHeader) != goodMark {
					t.Fatalf("headers went on as %v, want the filter's one mark", h)
				}
				feed(t, host, c, id, plaintext, 1)
				msg := lastCallout(t, host, id, eaas.MessagesPath)
				host.CallOnHttpCallResponse(msg.CalloutID, ok200, nil, c.encryptAnswer(msg.Body))
				if env, plain := c.open(host.GetCurrentRequestBody(id)); env.Dst != 2 || !bytes.Equal(plain, plaintext) {
					t.Fatalf("sent %+v", env)
				}
				return
			}
			// The app's marks never leave: orders would take them for
			// the filter's.
			if marks(h) != 0 {
				t.Fatalf("a request to no peer went on with %d marks", marks(h))
			}
			if a := host.CallOnRequestBody(id, plaintext, true); a != types.ActionContinue || calloutsTo(host, id, eaas.MessagesPath) != 0 {
				t.Fatalf("body %v: a body to no peer is not sealed", a)
			}
		})
	}
}

// A plaintext of exactly max_body_bytes is sealed by one side, so its
// envelope, a little larger, must be opened by the other, in both
// directions and both modes; an envelope larger than any such one is still
// refused before any callout.
func TestEnvelopeOfALimitSizedBodyIsOpened(t *testing.T) {
	atLimit := bytes.Repeat([]byte("a"), 4096)
	t.Run("request, held headers", func(t *testing.T) {
		c := newCoordinator(t)
		host := eaasHost(t, inboundConfig, frontendCert, "")
		id := inboundRequest(t, host, c, goodMark, c.seal(1, 2, 9, c.token, atLimit), allowed)
		openRequest(t, host, c, id, atLimit)
	})
	t.Run("request, envoy default", func(t *testing.T) {
		c := newCoordinator(t)
		host := eaasHost(t, inboundConfig, frontendCert, "")
		id := defaultInbound(t, host, goodMark, true, allowed)
		feed(t, host, c, id, c.seal(1, 2, 9, c.token, atLimit), 2)
		openRequest(t, host, c, id, atLimit)
	})
	t.Run("response", func(t *testing.T) {
		c := newCoordinator(t)
		// The destination seals at most max_body_bytes less the binding.
		atLimit := atLimit[maxBindingBytes:]
		host, id, wire := defaultSeal(t, c, ordersCert)
		host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}, {eaas.MarkHeader, goodMark}}, false)
		host.CallOnResponseBody(id, c.sealAnswer(wire, atLimit), true)
		if l := host.GetSentLocalResponse(id); l != nil {
			t.Fatalf("refused %d %s", l.StatusCode, headerValue(l.Headers, ReasonHeader))
		}
		msg := lastCallout(t, host, id, eaas.MessagesPath)
		host.CallOnHttpCallResponse(msg.CalloutID, ok200, nil, c.decryptAnswer(msg.Body))
		if !bytes.Equal(host.GetCurrentResponseBody(id), atLimit) {
			t.Fatalf("the app got %d bytes", len(host.GetCurrentResponseBody(id)))
		}
	})
	t.Run("envelope over any sealed one", func(t *testing.T) {
		c := newCoordinator(t)
		host := eaasHost(t, inboundConfig, frontendCert, "")
		id := defaultInbound(t, host, goodMark, true, allowed)
		feed(t, host, c, id, bytes.Repeat([]byte("a"), 4096+envelopeSlack+1), 2)
		refusedWith(t, host, id, 413, ReasonEAASBodyTooLarge)
		if n := calloutsTo(host, id, eaas.MessagesPath); n != 0 {
			t.Fatalf("%d calls to the coordinator for a body over the limit", n)
		}
	})
}

func openRequest(t *testing.T, host proxytest.HostEmulator, c *coordinator, id uint32, want []byte) {
	t.Helper()
	if l := host.GetSentLocalResponse(id); l != nil {
		t.Fatalf("refused %d %s", l.StatusCode, headerValue(l.Headers, ReasonHeader))
	}
	msg := lastCallout(t, host, id, eaas.MessagesPath)
	host.CallOnHttpCallResponse(msg.CalloutID, ok200, nil, c.decryptAnswer(msg.Body))
	if a := host.GetCurrentHttpStreamAction(id); a != types.ActionContinue || !bytes.Equal(host.GetCurrentRequestBody(id), want) {
		t.Fatalf("stream %v, the app got %d bytes, want %d", a, len(host.GetCurrentRequestBody(id)), len(want))
	}
}

// Under Envoy's default the headers of a marked request reach the app
// before its body is decrypted. An app that answers then (before reading
// its body, or while the coordinator works) must not send its body plain:
// the source is not known yet, so the answer is refused. Its own
// plaintext-forward word changes nothing.
func TestInboundEarlyAnswerToEncryptedRequestIsRefused(t *testing.T) {
	early := [][2]string{{":status", "200"}, {eaas.ForwardHeader, eaas.ForwardPlaintext}, {"content-length", "7"}}
	for _, stage := range []string{"before the body", "mid-body", "while decrypting"} {
		t.Run(stage, func(t *testing.T) {
			c := newCoordinator(t)
			env := c.seal(1, 2, 9, c.token, plaintext)
			host := eaasHost(t, inboundConfig, frontendCert, "")
			id := defaultInbound(t, host, goodMark, true, allowed)
			headersWentAhead(t, host, id)
			switch stage {
			case "mid-body":
				host.CallOnRequestBody(id, env[:10], false)
			case "while decrypting":
				feed(t, host, c, id, env, 2)
			}
			if a := host.CallOnResponseHeaders(id, early, false); a == types.ActionContinue {
				t.Fatalf("the app's early answer went on as %v", host.GetCurrentResponseHeaders(id))
			}
			refusedWith(t, host, id, 502, ReasonEAASPlaintextRefused)
			if stage == "while decrypting" {
				msg := lastCallout(t, host, id, eaas.MessagesPath)
				host.CallOnHttpCallResponse(msg.CalloutID, ok200, nil, c.decryptAnswer(msg.Body))
				if bytes.Equal(host.GetCurrentRequestBody(id), plaintext) && host.GetCurrentHttpStreamAction(id) == types.ActionContinue {
					t.Fatal("the request went on after its stream was refused")
				}
			}
		})
	}
}

// The orders app cannot speak for the filter: its mark and its
// plaintext-forward word never leave the destination sidecar.
func TestInboundRemovesTheAppsEaaSHeaders(t *testing.T) {
	appHeaders := [][2]string{{":status", "200"}, {eaas.MarkHeader, goodMark}, {eaas.ForwardHeader, eaas.ForwardPlaintext}}
	t.Run("answer to a plain request", func(t *testing.T) {
		c := newCoordinator(t)
		host := eaasHost(t, inboundConfig, catalogCert, "")
		id := inboundRequest(t, host, c, "", plaintext, allowed)
		if a := host.CallOnResponseHeaders(id, appHeaders, false); a != types.ActionContinue {
			t.Fatalf("response headers %v", a)
		}
		if h := host.GetCurrentResponseHeaders(id); marks(h) != 0 || headerValue(h, eaas.ForwardHeader) != "" {
			t.Fatalf("the app's headers went on: %v", h)
		}
	})
	t.Run("answer to an encrypted request", func(t *testing.T) {
		c := newCoordinator(t)
		host := eaasHost(t, inboundConfig, frontendCert, "")
		id := defaultInbound(t, host, goodMark, true, allowed)
		request := c.seal(1, 2, 9, c.token, plaintext)
		feed(t, host, c, id, request, 2)
		msg := lastCallout(t, host, id, eaas.MessagesPath)
		host.CallOnHttpCallResponse(msg.CalloutID, ok200, nil, c.decryptAnswer(msg.Body))
		host.CallOnResponseHeaders(id, appHeaders, false)
		host.CallOnResponseBody(id, []byte("receipt"), true)
		msg = lastCallout(t, host, id, eaas.MessagesPath)
		host.CallOnHttpCallResponse(msg.CalloutID, ok200, nil, c.encryptAnswer(msg.Body))
		h := host.GetCurrentResponseHeaders(id)
		if marks(h) != 1 || headerValue(h, eaas.MarkHeader) != goodMark || headerValue(h, eaas.ForwardHeader) != "" {
			t.Fatalf("response headers %v, want the filter's one mark", h)
		}
		if _, plain := c.openAnswer(host.GetCurrentResponseBody(id), request); !bytes.Equal(plain, []byte("receipt")) {
			t.Fatalf("response body opens to %q", plain)
		}
	})
}

// A marked body that ends with trailers (chunked with trailers) is
// decrypted like one that ends with end_of_stream.
func TestInboundMarkedBodyEndingInTrailers(t *testing.T) {
	trailers := [][2]string{{"x-checksum", "abc"}}
	t.Run("held headers", func(t *testing.T) {
		c := newCoordinator(t)
		env := c.seal(1, 2, 9, c.token, plaintext)
		host := eaasHost(t, inboundConfig, frontendCert, "")
		id := host.InitializeHttpContext()
		host.CallOnRequestHeaders(id, post("orders", [2]string{eaas.MarkHeader, goodMark}), false)
		host.CallOnRequestBody(id, env, false)
		if a := host.CallOnRequestTrailers(id, trailers); a != types.ActionPause {
			t.Fatalf("trailers %v, want Pause while the check is out", a)
		}
		host.CallOnHttpCallResponse(lastCallout(t, host, id, check.Path).CalloutID, ok200, nil, answer(t, allowed))
		host.CallOnHttpCallResponse(lastCallout(t, host, id, eaas.EnrolmentPath).CalloutID, ok200, nil, c.enrolBody(2))
		openRequest(t, host, c, id, plaintext)
	})
	t.Run("envoy default", func(t *testing.T) {
		c := newCoordinator(t)
		env := c.seal(1, 2, 9, c.token, plaintext)
		host := eaasHost(t, inboundConfig, frontendCert, "")
		id := defaultInbound(t, host, goodMark, true, allowed)
		headersWentAhead(t, host, id)
		host.CallOnRequestBody(id, env, false)
		if a := host.CallOnRequestTrailers(id, trailers); a != types.ActionPause {
			t.Fatalf("trailers %v, want Pause while decrypting", a)
		}
		host.CallOnHttpCallResponse(lastCallout(t, host, id, eaas.EnrolmentPath).CalloutID, ok200, nil, c.enrolBody(2))
		openRequest(t, host, c, id, plaintext)
	})
}

// A sidecar sends one mark. A request with two (one the app would see if
// the host removed only the first, or one an intermediary appended) is
// refused before its headers go on, without any call to the coordinator,
// whichever of the two is valid; so is a mark spelled another way.
func TestInboundRefusesSmuggledMarks(t *testing.T) {
	c := newCoordinator(t)
	env := c.seal(1, 2, 9, c.token, plaintext)
	tests := map[string][][2]string{
		"valid first":      {{eaas.MarkHeader, goodMark}, {eaas.MarkHeader, "v1; subscriber=55"}},
		"valid second":     {{eaas.MarkHeader, "v1; subscriber=55"}, {eaas.MarkHeader, goodMark}},
		"both valid":       {{eaas.MarkHeader, goodMark}, {eaas.MarkHeader, goodMark}},
		"name in capitals": {{"X-Meshward-Eaas", goodMark}, {eaas.MarkHeader, goodMark}},
		"no space":         {{eaas.MarkHeader, "v1;subscriber=54"}},
		"trailing space":   {{eaas.MarkHeader, goodMark + " "}},
		"leading zero":     {{eaas.MarkHeader, "v1; subscriber=054"}},
		"upper-case v":     {{eaas.MarkHeader, "V1; subscriber=54"}},
	}
	for name, extra := range tests {
		for _, held := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s held=%v", name, held), func(t *testing.T) {
				host := eaasHost(t, inboundConfig, frontendCert, "")
				id := host.InitializeHttpContext()
				host.CallOnRequestHeaders(id, post("orders", extra...), false)
				if held {
					host.CallOnRequestBody(id, env, true)
				}
				host.CallOnHttpCallResponse(lastCallout(t, host, id, check.Path).CalloutID, ok200, nil, answer(t, allowed))
				refusedWith(t, host, id, 403, ReasonEAASDecryptFailed)
				if n := len(host.GetCalloutAttributesFromContext(id)); n != 1 {
					t.Fatalf("%d callouts, want only the check", n)
				}
			})
		}
	}
}

// A response envelope is bound to the request it answers. One taken off
// the wire before the frontend opened it (so no replay window has seen it)
// cannot answer another request; nor can an envelope without the binding;
// nor can any envelope answer a request that was not sealed.
func TestOutboundResponseBoundToItsRequest(t *testing.T) {
	tests := []struct {
		name  string
		reply func(c *coordinator, wire []byte) []byte
	}{
		{"answer to an earlier request", func(c *coordinator, wire []byte) []byte {
			e, _ := eaas.ParseEnvelope(wire)
			return c.seal(2, 1, 500, c.token, bindResponse(e.Seq-1, []byte(`{"order":6}`)))
		}},
		{"no binding", func(c *coordinator, _ []byte) []byte { return c.seal(2, 1, 500, c.token, nil) }},
		{"binding cut short", func(c *coordinator, _ []byte) []byte { return c.seal(2, 1, 500, c.token, []byte{0x80}) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCoordinator(t)
			host, id, wire := defaultSeal(t, c, ordersCert)
			host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}, {eaas.MarkHeader, goodMark}}, false)
			host.CallOnResponseBody(id, tc.reply(c, wire), true)
			msg := lastCallout(t, host, id, eaas.MessagesPath)
			host.CallOnHttpCallResponse(msg.CalloutID, ok200, nil, c.decryptAnswer(msg.Body))
			refusedWith(t, host, id, 502, ReasonEAASDecryptFailed)
		})
	}
	t.Run("answer to a request not sealed", func(t *testing.T) {
		c := newCoordinator(t)
		host, _, _ := defaultSeal(t, c, ordersCert)
		id := host.InitializeHttpContext()
		host.CallOnRequestHeaders(id, [][2]string{{":method", "GET"}, {":path", "/orders/7"}, {":authority", "orders"}}, true)
		if a := host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}, {eaas.MarkHeader, goodMark}}, false); a == types.ActionContinue {
			t.Fatal("a sealed answer to a GET went on")
		}
		refusedWith(t, host, id, 502, ReasonEAASDecryptFailed)
		if n := calloutsTo(host, id, eaas.MessagesPath); n != 0 {
			t.Fatalf("%d calls to the coordinator", n)
		}
	})
}

// The destination seals a response behind its binding, so the app's body
// may be max_body_bytes less the binding; a larger one is refused.
func TestInboundResponseOverTheLimit(t *testing.T) {
	c := newCoordinator(t)
	host := eaasHost(t, inboundConfig, frontendCert, "")
	id := defaultInbound(t, host, goodMark, true, allowed)
	feed(t, host, c, id, c.seal(1, 2, 9, c.token, plaintext), 2)
	msg := lastCallout(t, host, id, eaas.MessagesPath)
	host.CallOnHttpCallResponse(msg.CalloutID, ok200, nil, c.decryptAnswer(msg.Body))
	host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false)
	host.CallOnResponseBody(id, bytes.Repeat([]byte("r"), 4096-maxBindingBytes+1), true)
	refusedWith(t, host, id, 502, ReasonEAASBodyTooLarge)
	if n := calloutsTo(host, id, eaas.MessagesPath); n != 1 {
		t.Fatalf("%d messages callouts, want only the request's decryption", n)
	}
}
