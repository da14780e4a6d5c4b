package filter

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/meshward/meshward/api/check"
	"github.com/meshward/meshward/api/eaas"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

const (
	inboundConfig  = `{"authorizer_cluster":"meshward-authz","destination":"spiffe://cluster.local/ns/shop/sa/orders","eaas":{"enabled":true,"max_body_bytes":4096}}`
	outboundConfig = `{"authorizer_cluster":"meshward-authz","eaas":{"enabled":true,"direction":"outbound","max_body_bytes":4096}}`
)

// eaasHost starts the filter with peerCert as the downstream's certificate
// and upstreamCert as the upstream's.
func eaasHost(t *testing.T, config, peerCert, upstreamCert string) proxytest.HostEmulator {
	t.Helper()
	host, _ := eaasHostRelease(t, config, peerCert, upstreamCert)
	return host
}

// eaasHostRelease also returns a release of the emulator (which is
// exclusive), for a test that needs a second one.
func eaasHostRelease(t *testing.T, config, peerCert, upstreamCert string) (proxytest.HostEmulator, func()) {
	t.Helper()
	opt := proxytest.NewEmulatorOption().WithVMContext(&VM{}).WithPluginConfiguration([]byte(config))
	// The emulator cannot return an empty property: a missing one is unset.
	if peerCert != "" {
		opt = opt.WithProperty([]string{"connection", "uri_san_peer_certificate"}, []byte(peerCert))
	}
	if upstreamCert != "" {
		opt = opt.WithProperty([]string{"upstream", "uri_san_peer_certificate"}, []byte(upstreamCert))
	}
	host, reset := proxytest.NewHostEmulator(opt)
	var once sync.Once
	release := func() { once.Do(reset) }
	t.Cleanup(release)
	if st := host.StartPlugin(); st != types.OnPluginStartStatusOK {
		t.Fatalf("StartPlugin = %v", st)
	}
	return host, release
}

var plaintext = []byte(`{"card":"4111 1111 1111 1111","amount":42}`)

func post(authority string, extra ...[2]string) [][2]string {
	return append([][2]string{{":method", "POST"}, {":path", "/orders"}, {":authority", authority},
		{"content-length", "42"}}, extra...)
}

// refusedWith asserts that the stream was answered locally with status and
// reason and that nothing was let through.
func refusedWith(t *testing.T, host proxytest.HostEmulator, id uint32, status uint32, reason string) {
	t.Helper()
	l := host.GetSentLocalResponse(id)
	if l == nil || l.StatusCode != status || headerValue(l.Headers, ReasonHeader) != reason {
		t.Fatalf("local answer %+v, want %d %s", l, status, reason)
	}
	if a := host.GetCurrentHttpStreamAction(id); a == types.ActionContinue {
		t.Fatal("the stream was continued after the refusal")
	}
}

// sealOutbound runs a request with a body through an outbound filter and
// returns what the destination gets: headers and body.
func sealOutbound(t *testing.T, c *coordinator, body []byte) ([][2]string, []byte) {
	host, release := eaasHostRelease(t, outboundConfig, "", ordersCert)
	defer release()
	id := host.InitializeHttpContext()
	if a := host.CallOnRequestHeaders(id, post(ordersHost+":8080", [2]string{eaas.MarkHeader, "v1; subscriber=54"}), false); a != types.ActionPause {
		t.Fatalf("headers: %v, want Pause until the body is sealed", a)
	}
	if a := host.CallOnRequestBody(id, body[:10], false); a != types.ActionPause {
		t.Fatalf("first chunk: %v", a)
	}
	host.CallOnRequestBody(id, body[10:], true)
	enrol := lastCallout(t, host, id, eaas.EnrolmentPath)
	host.CallOnHttpCallResponse(enrol.CalloutID, ok200, nil, c.enrolBody(1))
	msg := lastCallout(t, host, id, eaas.MessagesPath)
	if headerValue(msg.Headers, "content-type") != eaas.ContentType {
		t.Fatalf("messages callout headers %v", msg.Headers)
	}
	host.CallOnHttpCallResponse(msg.CalloutID, ok200, nil, c.encryptAnswer(msg.Body))
	if a := host.GetCurrentHttpStreamAction(id); a != types.ActionContinue {
		t.Fatalf("stream %v after sealing", a)
	}
	return host.GetCurrentRequestHeaders(id), host.GetCurrentRequestBody(id)
}

func TestOutboundSealsRequestBody(t *testing.T) {
	c := newCoordinator(t)
	headers, body := sealOutbound(t, c, plaintext)
	if bytes.Contains(body, []byte("4111")) {
		t.Fatal("plaintext on the wire")
	}
	env, plain := c.open(body)
	if !bytes.Equal(plain, plaintext) || env.Src != 1 || env.Dst != 2 || env.Subscriber != 54 {
		t.Fatalf("envelope %+v opens to %q", env, plain)
	}
	if headerValue(headers, eaas.MarkHeader) != "v1; subscriber=54" || headerValue(headers, "content-length") != "" {
		t.Fatalf("headers %v: want the filter's mark and no content-length", headers)
	}
}

// The 2^t frames of an encryption request: one real, the others random
// data of the same length under the other tokens.
func TestOutboundSendsFakes(t *testing.T) {
	c := newCoordinator(t)
	host := eaasHost(t, outboundConfig, "", ordersCert)
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, post("orders"), false)
	host.CallOnRequestBody(id, plaintext, true)
	host.CallOnHttpCallResponse(lastCallout(t, host, id, eaas.EnrolmentPath).CalloutID, ok200, nil, c.enrolBody(1))
	ms := c.frames(lastCallout(t, host, id, eaas.MessagesPath).Body, 4)
	tokens, fakes := map[uint8]bool{}, map[string]bool{}
	for _, m := range ms {
		tokens[m.Token] = true
		if m.Token != c.token {
			fakes[string(m.Data)] = true // random: three fakes, three different data
		}
		if m.DataBits != 8*len(plaintext) || m.Pair != 2 || m.Requester != 1 || m.Seq != 9 {
			t.Fatalf("frame %+v", m)
		}
		if real := bytes.Equal(m.Data, plaintext); real != (m.Token == c.token) {
			t.Fatalf("token %d carries the plaintext: %v", m.Token, real)
		}
	}
	if len(tokens) != 4 || len(fakes) != 3 || fakes[string(make([]byte, len(plaintext)))] {
		t.Fatalf("tokens %v, want 0 to 3; %d distinct fakes, want 3 random ones", tokens, len(fakes))
	}
}

func TestOutboundLeavesOtherHostsAlone(t *testing.T) {
	c := newCoordinator(t)
	host := eaasHost(t, outboundConfig, "", "")
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, post("example.com", [2]string{eaas.MarkHeader, "v1; subscriber=54"}), false)
	host.CallOnRequestBody(id, plaintext, true)
	host.CallOnHttpCallResponse(lastCallout(t, host, id, eaas.EnrolmentPath).CalloutID, ok200, nil, c.enrolBody(1))
	if a := host.GetCurrentHttpStreamAction(id); a != types.ActionContinue || !bytes.Equal(host.GetCurrentRequestBody(id), plaintext) {
		t.Fatalf("a request to no peer: %v", a)
	}
	// The app's mark is never passed on: a destination would take the
	// plaintext for an envelope.
	if v := headerValue(host.GetCurrentRequestHeaders(id), eaas.MarkHeader); v != "" {
		t.Fatalf("the app's mark %q passed", v)
	}
	// Once enrolled, such requests are not even held.
	id2 := host.InitializeHttpContext()
	if a := host.CallOnRequestHeaders(id2, post("example.com"), false); a != types.ActionContinue {
		t.Fatalf("headers %v", a)
	}
	if a := host.CallOnRequestBody(id2, plaintext, true); a != types.ActionContinue {
		t.Fatalf("body %v", a)
	}
}

// inboundRequest sends a marked request with body through the inbound
// filter, answers its check with resp and its enrolment, and returns the
// stream id; the decryption callout (if any) is left to the caller.
func inboundRequest(t *testing.T, host proxytest.HostEmulator, c *coordinator, mark string, body []byte, resp check.Response) uint32 {
	t.Helper()
	id := host.InitializeHttpContext()
	headers := post("orders")
	if mark != "" {
		headers = append(headers, [2]string{eaas.MarkHeader, mark})
	}
	if a := host.CallOnRequestHeaders(id, headers, len(body) == 0); a != types.ActionPause {
		t.Fatalf("headers %v", a)
	}
	if len(body) > 0 {
		if a := host.CallOnRequestBody(id, body, true); a != types.ActionPause {
			t.Fatalf("body while the check is out: %v, want Pause", a)
		}
	}
	host.CallOnHttpCallResponse(lastCallout(t, host, id, check.Path).CalloutID, ok200, nil, answer(t, resp))
	if cs := host.GetCalloutAttributesFromContext(id); len(cs) > 1 && headerValue(cs[len(cs)-1].Headers, ":path") == eaas.EnrolmentPath {
		host.CallOnHttpCallResponse(cs[len(cs)-1].CalloutID, ok200, nil, c.enrolBody(2))
	}
	return id
}

var allowed = check.Response{Allow: true, Reason: "allowed"}

func TestInboundOpensRequestAndSealsResponse(t *testing.T) {
	c := newCoordinator(t)
	_, wire := sealOutbound(t, c, plaintext)
	host := eaasHost(t, inboundConfig, frontendCert, "")
	id := inboundRequest(t, host, c, "v1; subscriber=54", wire, allowed)
	msg := lastCallout(t, host, id, eaas.MessagesPath)
	if ms := c.frames(msg.Body, 1); ms[0].Type != eaas.Decrypt || ms[0].Pair != 1 || ms[0].Requester != 2 || !bytes.Equal(ms[0].Data, wire) {
		t.Fatalf("decryption request %+v", ms[0])
	}
	host.CallOnHttpCallResponse(msg.CalloutID, ok200, nil, c.decryptAnswer(msg.Body))
	if a := host.GetCurrentHttpStreamAction(id); a != types.ActionContinue || !bytes.Equal(host.GetCurrentRequestBody(id), plaintext) {
		t.Fatalf("stream %v, body %q: want the plaintext for the app", a, host.GetCurrentRequestBody(id))
	}
	if h := host.GetCurrentRequestHeaders(id); headerValue(h, eaas.MarkHeader) != "" || headerValue(h, "content-length") != "" {
		t.Fatalf("the app sees %v", h)
	}
	// The response goes back sealed for the frontend; a mark the app set is
	// replaced by the filter's.
	reply := []byte(`{"order":7,"status":"paid"}`)
	if a := host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}, {eaas.MarkHeader, "v1; subscriber=99"}}, false); a != types.ActionPause {
		t.Fatalf("response headers %v", a)
	}
	host.CallOnResponseBody(id, reply, true)
	msg = lastCallout(t, host, id, eaas.MessagesPath)
	host.CallOnHttpCallResponse(msg.CalloutID, ok200, nil, c.encryptAnswer(msg.Body))
	env, plain := c.openAnswer(host.GetCurrentResponseBody(id), wire)
	if !bytes.Equal(plain, reply) || env.Src != 2 || env.Dst != 1 {
		t.Fatalf("response envelope %+v opens to %q", env, plain)
	}
	if headerValue(host.GetCurrentResponseHeaders(id), eaas.MarkHeader) != "v1; subscriber=54" {
		t.Fatalf("response headers %v", host.GetCurrentResponseHeaders(id))
	}
	if a := host.GetCurrentHttpStreamAction(id); a != types.ActionContinue {
		t.Fatalf("response %v", a)
	}
}

func TestOutboundOpensResponse(t *testing.T) {
	c := newCoordinator(t)
	reply := []byte(`{"order":7}`)
	host := eaasHost(t, outboundConfig, "", ordersCert)
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, post("orders"), false)
	host.CallOnRequestBody(id, plaintext, true)
	host.CallOnHttpCallResponse(lastCallout(t, host, id, eaas.EnrolmentPath).CalloutID, ok200, nil, c.enrolBody(1))
	msg := lastCallout(t, host, id, eaas.MessagesPath)
	host.CallOnHttpCallResponse(msg.CalloutID, ok200, nil, c.encryptAnswer(msg.Body))
	sealed := c.sealAnswer(host.GetCurrentRequestBody(id), reply)
	if a := host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}, {eaas.MarkHeader, "v1; subscriber=54"}}, false); a != types.ActionPause {
		t.Fatalf("response headers %v", a)
	}
	host.CallOnResponseBody(id, sealed, true)
	msg = lastCallout(t, host, id, eaas.MessagesPath)
	host.CallOnHttpCallResponse(msg.CalloutID, ok200, nil, c.decryptAnswer(msg.Body))
	if !bytes.Equal(host.GetCurrentResponseBody(id), reply) || headerValue(host.GetCurrentResponseHeaders(id), eaas.MarkHeader) != "" {
		t.Fatalf("the app got %q, headers %v", host.GetCurrentResponseBody(id), host.GetCurrentResponseHeaders(id))
	}
}

// The attacks at the destination. Each one is refused, and those decided
// by the flood drop make no call to the coordinator's messages at all.
func TestInboundAttacks(t *testing.T) {
	c := newCoordinator(t)
	good := func(f func(*eaas.Envelope)) []byte {
		e, err := eaas.ParseEnvelope(c.seal(1, 2, 9, c.token, plaintext))
		if err != nil {
			t.Fatal(err)
		}
		f(&e)
		return e.Marshal()
	}
	tests := []struct {
		name     string
		peerCert string
		mark     string
		body     []byte
		status   uint32
		reason   string
	}{
		{"forged mark on a plain body", frontendCert, "v1; subscriber=54", plaintext, 403, ReasonEAASDecryptFailed},
		{"truncated envelope", frontendCert, "v1; subscriber=54", good(func(*eaas.Envelope) {})[:9], 403, ReasonEAASDecryptFailed},
		{"garbled mark", frontendCert, "v1; subscriber=54x", good(func(*eaas.Envelope) {}), 403, ReasonEAASDecryptFailed},
		{"wrong token", frontendCert, "v1; subscriber=54", good(func(e *eaas.Envelope) { e.Token = 2 }), 403, ReasonEAASFloodDropped},
		{"wrong dst", frontendCert, "v1; subscriber=54", good(func(e *eaas.Envelope) { e.Dst = 3 }), 403, ReasonEAASFloodDropped},
		{"another subscriber", frontendCert, "v1; subscriber=54", good(func(e *eaas.Envelope) { e.Subscriber = 55 }), 403, ReasonEAASFloodDropped},
		{"mark of another subscriber", frontendCert, "v1; subscriber=55", good(func(*eaas.Envelope) {}), 403, ReasonEAASFloodDropped},
		{"src not the peer certificate's", catalogCert, "v1; subscriber=54", good(func(*eaas.Envelope) {}), 403, ReasonEAASFloodDropped},
		{"src no member", frontendCert, "v1; subscriber=54", good(func(e *eaas.Envelope) { e.Src = 9 }), 403, ReasonEAASFloodDropped},
		{"no peer certificate", "", "v1; subscriber=54", good(func(*eaas.Envelope) {}), 403, ReasonEAASFloodDropped},
		{"mark without body", frontendCert, "v1; subscriber=54", nil, 403, ReasonEAASDecryptFailed},
		{"body over the limit", frontendCert, "v1; subscriber=54", bytes.Repeat([]byte("a"), 4096+envelopeSlack+1), 413, ReasonEAASBodyTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			host := eaasHost(t, inboundConfig, tc.peerCert, "")
			id := inboundRequest(t, host, c, tc.mark, tc.body, allowed)
			refusedWith(t, host, id, tc.status, tc.reason)
			if n := calloutsTo(host, id, eaas.MessagesPath); n != 0 {
				t.Fatalf("%d calls to the coordinator's messages: the drop must come first", n)
			}
		})
	}
}

// A body that must be encrypted (the check's obligation) arriving in plain
// is refused, also when the answer comes from the decision cache.
func TestInboundPlaintextRefused(t *testing.T) {
	c := newCoordinator(t)
	host := eaasHost(t, inboundConfig, frontendCert, "")
	poll(t, host, `{"epoch":1,"instance":"a"}`)
	must := check.Response{Allow: true, Reason: "allowed", Obligations: []string{"encrypt"}, Epoch: 1, Instance: "a", CacheTTLMillis: 60000}
	id := inboundRequest(t, host, c, "", plaintext, must)
	refusedWith(t, host, id, 403, ReasonEAASPlaintextRefused)
	id = host.InitializeHttpContext()
	if a := host.CallOnRequestHeaders(id, post("orders"), false); a != types.ActionPause || calloutsTo(host, id, check.Path) != 0 {
		t.Fatalf("cached answer: %v", a)
	}
	refusedWith(t, host, id, 403, ReasonEAASPlaintextRefused)
	// Without a body there is nothing to encrypt.
	id = host.InitializeHttpContext()
	if a := host.CallOnRequestHeaders(id, post("orders"), true); a != types.ActionContinue {
		t.Fatalf("bodyless request: %v", a)
	}
}

// Before, a body callback continued the stream (the SDK's default), which
// in Envoy also continues headers paused for the check: a POST reached the
// app before the authorizer answered, and a denial came too late.
func TestBodyHeldWhileCheckIsOut(t *testing.T) {
	host := newHost(t, testConfig)
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, post("orders"), false)
	if a := host.CallOnRequestBody(id, []byte("DROP TABLE"), false); a != types.ActionPause {
		t.Fatalf("body chunk while the check is out: %v, want Pause", a)
	}
	if a := host.CallOnRequestTrailers(id, nil); a != types.ActionPause {
		t.Fatalf("trailers while the check is out: %v, want Pause", a)
	}
	host.CallOnHttpCallResponse(lastCallout(t, host, id, check.Path).CalloutID, ok200, nil, answer(t, check.Response{Reason: "no-matching-rule"}))
	refusedWith(t, host, id, 403, "no-matching-rule")
	// An allowed request's body flows once the check answered.
	id = host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, post("orders"), false)
	host.CallOnHttpCallResponse(lastCallout(t, host, id, check.Path).CalloutID, ok200, nil, answer(t, allowed))
	if a := host.CallOnRequestBody(id, plaintext, true); a != types.ActionContinue {
		t.Fatalf("body after the allow: %v", a)
	}
}

// The coordinator's answers: unavailable is 503 whatever fail_mode says,
// refusals carry its reason, and answers that do not parse, carry too many
// frames or no real frame are refused.
func TestCoordinatorAnswers(t *testing.T) {
	c := newCoordinator(t)
	sealed := c.seal(1, 2, 9, c.token, plaintext)
	realFrame := func(tok uint8) eaas.Message {
		return eaas.Message{Subscriber: 54, Requester: 2, Seq: 9, Type: eaas.Decrypt, Pair: 1, Token: tok, Data: plaintext, DataBits: 8 * len(plaintext)}
	}
	fakes := func(toks ...uint8) []byte {
		var ms []eaas.Message
		for _, tok := range toks {
			ms = append(ms, realFrame(tok))
		}
		return c.answerFrames(ms...)
	}
	tests := []struct {
		name    string
		config  string
		headers [][2]string
		body    []byte
		status  uint32
		reason  string
	}{
		{"no answer", inboundConfig, nil, nil, 503, ReasonEAASUnavailable},
		{"503", inboundConfig, [][2]string{{":status", "503"}}, []byte(`{"reason":"no-replica"}`), 503, ReasonEAASUnavailable},
		{"503, fail open", strings.Replace(inboundConfig, `"eaas"`, `"fail_mode":"open","eaas"`, 1), [][2]string{{":status", "503"}}, nil, 503, ReasonEAASUnavailable},
		{"refusal with reason", inboundConfig, [][2]string{{":status", "403"}}, []byte(`{"reason":"replayed-sequence","message":"seen"}`), 403, "replayed-sequence"},
		{"refusal with a header-splitting reason", inboundConfig, [][2]string{{":status", "403"}}, []byte(`{"reason":"x\r\nset-cookie: a"}`), 502, ReasonEAASBadAnswer},
		{"garbage", inboundConfig, ok200, []byte("<html>"), 502, ReasonEAASBadAnswer},
		{"empty batch", inboundConfig, ok200, nil, 502, ReasonEAASBadAnswer},
		{"too many frames", inboundConfig, ok200, fakes(0, 1, 2, 3, 0), 502, ReasonEAASBadAnswer},
		{"too few frames", inboundConfig, ok200, fakes(1, 2, 3), 502, ReasonEAASBadAnswer},
		{"no real frame", inboundConfig, ok200, fakes(0, 2, 3, 0), 502, ReasonEAASBadAnswer},
		{"two real frames", inboundConfig, ok200, fakes(0, 1, 1, 3), 502, ReasonEAASBadAnswer},
		{"answer for another sequence", inboundConfig, ok200, func() []byte {
			m := realFrame(1)
			m.Seq = 10
			return c.answerFrames(realFrame(0), m, realFrame(2), realFrame(3))
		}(), 502, ReasonEAASBadAnswer},
		{"plaintext forward on a decryption", inboundConfig, [][2]string{{":status", "200"}, {eaas.ForwardHeader, eaas.ForwardPlaintext}}, nil, 503, ReasonEAASUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			host := eaasHost(t, tc.config, frontendCert, "")
			id := inboundRequest(t, host, c, "v1; subscriber=54", sealed, allowed)
			host.CallOnHttpCallResponse(lastCallout(t, host, id, eaas.MessagesPath).CalloutID, tc.headers, nil, tc.body)
			refusedWith(t, host, id, tc.status, tc.reason)
			if bytes.Equal(host.GetCurrentRequestBody(id), plaintext) {
				t.Fatal("a fake's data became the body")
			}
		})
	}
}

// A 409 (stale lease) makes the filter enrol again and retry once.
func TestConflictReenrols(t *testing.T) {
	c := newCoordinator(t)
	host := eaasHost(t, inboundConfig, frontendCert, "")
	id := inboundRequest(t, host, c, "v1; subscriber=54", c.seal(1, 2, 9, c.token, plaintext), allowed)
	host.CallOnHttpCallResponse(lastCallout(t, host, id, eaas.MessagesPath).CalloutID, [][2]string{{":status", "409"}}, nil, nil)
	host.CallOnHttpCallResponse(lastCallout(t, host, id, eaas.EnrolmentPath).CalloutID, ok200, nil, c.enrolBody(2))
	msg := lastCallout(t, host, id, eaas.MessagesPath)
	if m := c.frames(msg.Body, 1)[0]; m.Seq != 9+1024 {
		t.Fatalf("retry with sequence %d, want the new lease's first", m.Seq)
	}
	host.CallOnHttpCallResponse(msg.CalloutID, ok200, nil, c.decryptAnswer(msg.Body))
	if !bytes.Equal(host.GetCurrentRequestBody(id), plaintext) {
		t.Fatal("not decrypted after re-enrolling")
	}
}

// A lease of one number: the second request enrols again first.
func TestLeaseUsedUpReenrols(t *testing.T) {
	c := newCoordinator(t)
	c.lease = 1
	host := eaasHost(t, outboundConfig, "", ordersCert)
	for i, wantSeq := range []uint64{9, 10} {
		id := host.InitializeHttpContext()
		host.CallOnRequestHeaders(id, post("orders"), false)
		host.CallOnRequestBody(id, plaintext, true)
		host.CallOnHttpCallResponse(lastCallout(t, host, id, eaas.EnrolmentPath).CalloutID, ok200, nil, c.enrolBody(1))
		msg := lastCallout(t, host, id, eaas.MessagesPath)
		if m := c.frames(msg.Body, 4)[0]; m.Seq != wantSeq {
			t.Fatalf("request %d: sequence %d, want %d", i, m.Seq, wantSeq)
		}
	}
}

func TestOutboundAttacksAndLimits(t *testing.T) {
	c := newCoordinator(t)
	start := func(t *testing.T, host proxytest.HostEmulator, body []byte) uint32 {
		id := host.InitializeHttpContext()
		host.CallOnRequestHeaders(id, post("orders"), false)
		host.CallOnRequestBody(id, body, true)
		host.CallOnHttpCallResponse(lastCallout(t, host, id, eaas.EnrolmentPath).CalloutID, ok200, nil, c.enrolBody(1))
		return id
	}
	t.Run("body over the limit", func(t *testing.T) {
		host := eaasHost(t, outboundConfig, "", ordersCert)
		id := host.InitializeHttpContext()
		host.CallOnRequestHeaders(id, post("orders"), false)
		host.CallOnRequestBody(id, bytes.Repeat([]byte("a"), 4097), false)
		refusedWith(t, host, id, 413, ReasonEAASBodyTooLarge)
	})
	t.Run("coordinator unavailable: never plaintext", func(t *testing.T) {
		host := eaasHost(t, outboundConfig, "", ordersCert)
		id := start(t, host, plaintext)
		host.CallOnHttpCallResponse(lastCallout(t, host, id, eaas.MessagesPath).CalloutID, nil, nil, nil)
		refusedWith(t, host, id, 503, ReasonEAASUnavailable)
	})
	t.Run("enrolment refused", func(t *testing.T) {
		host := eaasHost(t, outboundConfig, "", ordersCert)
		id := host.InitializeHttpContext()
		host.CallOnRequestHeaders(id, post("orders"), false)
		host.CallOnRequestBody(id, plaintext, true)
		host.CallOnHttpCallResponse(lastCallout(t, host, id, eaas.EnrolmentPath).CalloutID, [][2]string{{":status", "404"}}, nil, []byte(`{"reason":"not-a-member"}`))
		refusedWith(t, host, id, 403, "not-a-member")
	})
	t.Run("envelope for another pair", func(t *testing.T) {
		host := eaasHost(t, outboundConfig, "", ordersCert)
		id := start(t, host, plaintext)
		msg := lastCallout(t, host, id, eaas.MessagesPath)
		m := c.frames(msg.Body, 4)[0]
		env := c.seal(1, 3, m.Seq, c.token, plaintext) // sealed for catalog
		host.CallOnHttpCallResponse(msg.CalloutID, ok200, nil, c.answerFrames(eaas.Message{Subscriber: 54, Requester: 1, Seq: m.Seq, Pair: 2, Data: env, DataBits: 8 * len(env)}))
		refusedWith(t, host, id, 502, ReasonEAASBadAnswer)
	})
	t.Run("plaintext forward is counted and logged", func(t *testing.T) {
		host := eaasHost(t, outboundConfig, "", ordersCert)
		id := start(t, host, plaintext)
		host.CallOnHttpCallResponse(lastCallout(t, host, id, eaas.MessagesPath).CalloutID, [][2]string{{":status", "200"}, {eaas.ForwardHeader, eaas.ForwardPlaintext}}, nil, nil)
		if !bytes.Equal(host.GetCurrentRequestBody(id), plaintext) || headerValue(host.GetCurrentRequestHeaders(id), eaas.MarkHeader) != "" {
			t.Fatal("plaintext forward: want the raw body, unmarked")
		}
		if !strings.Contains(strings.Join(host.GetWarnLogs(), "\n"), "forwarding plaintext") {
			t.Fatal("plaintext forward not logged")
		}
	})
	// A man in the middle answering for orders: a plain body, a forged
	// plaintext-forward, or an envelope from another member.
	for _, tc := range []struct {
		name, upstream string
		headers        [][2]string
		body           []byte
		status         uint32
		reason         string
	}{
		{"plain response", ordersCert, [][2]string{{":status", "200"}}, []byte("fake"), 502, ReasonEAASPlaintextRefused},
		{"forged forward header", catalogCert, [][2]string{{":status", "200"}, {eaas.ForwardHeader, eaas.ForwardPlaintext}}, []byte("fake"), 502, ReasonEAASPlaintextRefused},
		{"envelope from catalog", catalogCert, [][2]string{{":status", "200"}, {eaas.MarkHeader, "v1; subscriber=54"}}, c.seal(3, 1, 4, c.token, []byte("fake")), 502, ReasonEAASFloodDropped},
		{"envelope from orders, catalog's certificate", catalogCert, [][2]string{{":status", "200"}, {eaas.MarkHeader, "v1; subscriber=54"}}, c.seal(2, 1, 4, c.token, []byte("fake")), 502, ReasonEAASFloodDropped},
		{"marked, no body", ordersCert, [][2]string{{":status", "200"}, {eaas.MarkHeader, "v1; subscriber=54"}}, nil, 502, ReasonEAASDecryptFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := eaasHost(t, outboundConfig, "", tc.upstream)
			id := start(t, host, plaintext)
			msg := lastCallout(t, host, id, eaas.MessagesPath)
			host.CallOnHttpCallResponse(msg.CalloutID, ok200, nil, c.encryptAnswer(msg.Body))
			if host.CallOnResponseHeaders(id, tc.headers, tc.body == nil) == types.ActionPause && tc.body != nil && host.GetSentLocalResponse(id) == nil {
				host.CallOnResponseBody(id, tc.body, true)
			}
			refusedWith(t, host, id, tc.status, tc.reason)
			if n := calloutsTo(host, id, eaas.MessagesPath); n != 1 {
				t.Fatalf("%d messages callouts, want only the request's", n)
			}
		})
	}
}

// Nothing secret reaches the log: the token, the body, the envelope.
func TestEAASLogsNoSecrets(t *testing.T) {
	c := newCoordinator(t)
	c.token = 3
	host := eaasHost(t, inboundConfig, frontendCert, "")
	id := inboundRequest(t, host, c, "v1; subscriber=54", c.seal(1, 2, 9, 2, plaintext), allowed)
	refusedWith(t, host, id, 403, ReasonEAASFloodDropped)
	var logs []string
	for _, l := range [][]string{host.GetDebugLogs(), host.GetInfoLogs(), host.GetWarnLogs(), host.GetErrorLogs()} {
		logs = append(logs, l...)
	}
	all := strings.Join(logs, "\n")
	for _, secret := range []string{"4111", "token 3", "\"token\"", "MWE1"} {
		if strings.Contains(all, secret) {
			t.Fatalf("log holds %q:\n%s", secret, all)
		}
	}
}
