package proxywasm_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strconv"
	"testing"
)

const kib100 = 100 << 10

// With allow_on_headers_stop_iteration, a filter paused in headers gets the
// body callbacks; each one after a Pause sees the whole buffered body; the
// headers wait, so header changes made in body callbacks reach the
// upstream, and the replaced body goes with the length the filter set.
func TestPauseInHeadersStillGetsBodyCallbacks(t *testing.T) {
	h := guestHost(t, true, 0, nil)
	x := run(t, h, "hpause,hdr,buffer,trace,setcl", &chunky{r: bytes.NewReader(make([]byte, kib100))}, kib100, ok200(0), nil)
	want := "H0 " + growing("B", kib100, " h0")
	if x.up == nil || string(x.upBody) != want {
		t.Fatalf("upstream body %q\nwant %q", x.upBody, want)
	}
	if got := x.up.Header("x-body-calls"); got != "10" {
		t.Errorf("x-body-calls = %q, want 10 (set while the headers waited)", got)
	}
	if x.up.ContentLength != int64(len(want)) {
		t.Errorf("content length %d, want %d", x.up.ContentLength, len(want))
	}
}

// Envoy's default: Pause in headers stops the body as well. The body
// callbacks come only once the filter resumed (here when its callout is
// answered, which the test holds until the whole body was read), in one
// callback with everything; the headers went on at the resume, so a header
// change in a body callback is refused (h2: BadArgument).
func TestDefaultPauseInHeadersWithholdsTheBody(t *testing.T) {
	release := make(chan struct{})
	h := guestHost(t, false, 0, release)
	body := &chunky{r: bytes.NewReader(make([]byte, kib100)), onEOF: func() { close(release) }}
	x := run(t, h, "hpause,callout,dropcl,hdr,buffer,trace", body, kib100, ok200(0), nil)
	want := "H0 C B102400:1 h2"
	if x.up == nil || string(x.upBody) != want || x.upErr != nil {
		t.Fatalf("upstream body %q (%v), want %q", x.upBody, x.upErr, want)
	}
	if x.up.Header("x-body-calls") != "" || x.up.ContentLength != -1 {
		t.Errorf("x-body-calls %q, content length %d; want none and -1 (chunked)", x.up.Header("x-body-calls"), x.up.ContentLength)
	}
}

// Headers that go on at once, then a body buffered across chunks and
// replaced: the upstream gets the new body, chunked (the filter removed the
// content-length, as a filter that changes a body must).
func TestBufferAcrossChunksAndReplace(t *testing.T) {
	h := guestHost(t, false, 0, nil)
	x := run(t, h, "dropcl,buffer,trace", &chunky{r: bytes.NewReader(make([]byte, kib100))}, kib100, ok200(0), nil)
	want := "H0 " + growing("B", kib100, "")
	if x.up == nil || string(x.upBody) != want || x.up.ContentLength != -1 {
		t.Fatalf("upstream body %q (length %d)\nwant %q (chunked)", x.upBody, x.up.ContentLength, want)
	}
}

// Attack on the filter's own mistake: it replaces the body but leaves the
// old content-length. Envoy would forward the stale length; the host
// refuses, so that nothing reaches the upstream and the mistake shows.
func TestStaleContentLengthIsRefused(t *testing.T) {
	h := guestHost(t, true, 0, nil)
	ctx := t.Context()
	st, err := h.Decode(ctx, request("hpause,buffer,trace", make([]byte, kib100)), &chunky{r: bytes.NewReader(make([]byte, kib100))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Finish(ctx)
	up, err := st.Upstream(ctx)
	if up != nil || err == nil {
		t.Fatalf("Upstream = %v, %v; want an error and nothing forwarded", up, err)
	}
}

// A local response from a body callback: with the headers held nothing
// reaches the upstream, and the client gets the local response, which went
// through the filter's response callbacks (x-guest), as Envoy's local
// replies do when no response has started.
func TestLocalResponseFromBodyCallback(t *testing.T) {
	h := guestHost(t, true, 0, nil)
	x := run(t, h, "hpause,buffer,local,rhdr", &chunky{r: bytes.NewReader(make([]byte, kib100))}, kib100, ok200(0), nil)
	if x.up != nil {
		t.Fatalf("the upstream got a request: %v", x.up.Headers)
	}
	if x.down.Header(":status") != "451" || string(x.downBody) != "refused by guest" ||
		x.down.Header("x-guest-local") != "1" || x.down.Header("x-guest") != "seen" {
		t.Errorf("client got %v %q", x.down.Headers, x.downBody)
	}
}

// Envoy's default with the headers gone on: the local response cuts the
// request, and not one body byte (all held back by the filter) reaches the
// upstream.
func TestLocalResponseAfterHeadersWentOn(t *testing.T) {
	h := guestHost(t, false, 0, nil)
	x := run(t, h, "buffer,local", &chunky{r: bytes.NewReader(make([]byte, kib100))}, kib100, ok200(0), nil)
	if x.up == nil || len(x.upBody) != 0 || x.upErr == nil {
		t.Fatalf("upstream body: %d bytes, error %v; want none and an error", len(x.upBody), x.upErr)
	}
	if x.down.Header(":status") != "451" {
		t.Errorf("client got %v", x.down.Headers)
	}
}

// The response side: header map changes, a buffered response body whose
// callbacks see it grow, replaced, sent chunked.
func TestResponseBodyReplace(t *testing.T) {
	h := guestHost(t, false, 0, nil)
	const n = 50 << 10
	resp := append(ok200(n), [2]string{"x-secret", "s3cret"})
	x := run(t, h, "rhdr,rdropcl,rbuffer,rtrace", nil, 0, resp, make([]byte, n))
	want := "R200:0 " + growing("b", n, "")
	if string(x.downBody) != want || x.down.ContentLength != -1 {
		t.Fatalf("client body %q (length %d)\nwant %q (chunked)", x.downBody, x.down.ContentLength, want)
	}
	if x.down.Header("x-guest") != "seen" || x.down.Header("x-secret") != "" {
		t.Errorf("client headers %v: want x-guest and no x-secret", x.down.Headers)
	}
}

// A local response from a response body callback while the response
// headers wait: the client gets it instead of the upstream's answer.
func TestLocalResponseReplacesTheResponse(t *testing.T) {
	h := guestHost(t, true, 0, nil)
	x := run(t, h, "rhpause,rbuffer,rlocal", nil, 0, ok200(4), []byte("real"))
	if x.down.Header(":status") != "502" || string(x.downBody) != "guest refused the response" {
		t.Fatalf("client got %v %q", x.down.Headers, x.downBody)
	}
}

// The EaaS pattern: buffer the whole body, pause, send it in a callout,
// replace it from the callout's answer (the buffered body is still there),
// resume. Both modes: with the headers held the filter sets the new length;
// without, it removed the length in the headers callback.
func TestReplaceBodyFromCalloutAnswer(t *testing.T) {
	for _, c := range []struct {
		allow  bool
		flags  string
		length int64
	}{{true, "hpause,buffer,seal,setcl", int64(len("sealed()")) + kib100}, {false, "dropcl,buffer,seal", -1}} {
		h := guestHost(t, c.allow, 0, nil)
		plain := make([]byte, kib100)
		_, _ = rand.Read(plain)
		x := run(t, h, c.flags, &chunky{r: bytes.NewReader(plain)}, kib100, ok200(0), nil)
		want := append(append([]byte("sealed("), plain...), ')')
		if x.up == nil || !bytes.Equal(x.upBody, want) || x.up.ContentLength != c.length {
			t.Fatalf("allow=%v: upstream got %d bytes (length %d), want the %d sealed ones (length %d)",
				c.allow, len(x.upBody), x.up.ContentLength, len(want), c.length)
		}
	}
}

// 1 MiB of random bytes arrives intact, passed through and buffered whole.
func TestOneMiBBody(t *testing.T) {
	const n = 1 << 20
	plain := make([]byte, n)
	_, _ = rand.Read(plain)
	for _, c := range []struct {
		allow bool
		flags string
	}{{false, ""}, {false, "buffer"}, {true, "hpause,buffer"}, {false, "hpause,callout"}} {
		h := guestHost(t, c.allow, 0, nil)
		x := run(t, h, c.flags, bytes.NewReader(plain), n, ok200(n), plain)
		if x.up == nil || !bytes.Equal(x.upBody, plain) || x.up.ContentLength != n {
			t.Errorf("allow=%v %q: upstream got %d bytes (length %d)", c.allow, c.flags, len(x.upBody), x.up.ContentLength)
		}
		if !bytes.Equal(x.downBody, plain) {
			t.Errorf("allow=%v %q: client got %d bytes", c.allow, c.flags, len(x.downBody))
		}
	}
}

// Attack: a body larger than the buffer limit against a filter that
// buffers it. The host answers 413 (Envoy's per_connection_buffer_limit)
// and nothing reaches the upstream; a response buffered past the limit
// becomes a 500.
func TestBufferLimit(t *testing.T) {
	const limit, n = 64 << 10, 1 << 20
	h := guestHost(t, true, limit, nil)
	x := run(t, h, "hpause,buffer", bytes.NewReader(make([]byte, n)), n, ok200(0), nil)
	if x.up != nil || x.down.Header(":status") != "413" {
		t.Fatalf("upstream %v, client %v: want nothing upstream and 413", x.up, x.down.Headers)
	}
	x = run(t, h, "rhpause,rbuffer", nil, 0, ok200(n), make([]byte, n))
	if x.down.Header(":status") != "500" || len(x.downBody) == n {
		t.Errorf("client got %v and %d bytes, want 500", x.down.Headers, len(x.downBody))
	}
}

// Pause in headers under Envoy's default is flow control, not a limit: a
// body larger than the limit waits for the filter and then goes on whole.
func TestStopAllIsFlowControl(t *testing.T) {
	const limit, n = 64 << 10, 1 << 20
	plain := make([]byte, n)
	_, _ = rand.Read(plain)
	h := guestHost(t, false, limit, nil)
	x := run(t, h, "hpause,callout", bytes.NewReader(plain), n, ok200(0), nil)
	if x.up == nil || !bytes.Equal(x.upBody, plain) {
		t.Fatalf("upstream got %d bytes (%v), want the %d sent", len(x.upBody), x.upErr, n)
	}
	if st := x.down.Header(":status"); st != "200" {
		t.Errorf("client got %s", st)
	}
}

var _ = errors.Is
var _ = strconv.Itoa

// What a request cost the VM is counted: each export the host called and
// each host call the guest made, with their time, and the callouts by path.
func TestUsageAndCalloutsAreCounted(t *testing.T) {
	h := guestHost(t, true, 0, nil)
	if u := h.Usage(); u.Exports["proxy_on_request_headers"].Calls != 0 || len(h.Callouts()) != 0 {
		t.Fatalf("before any request: %+v, callouts %v", u.Exports, h.Callouts())
	}
	plain := make([]byte, 1000)
	x := run(t, h, "hpause,buffer,seal,setcl", bytes.NewReader(plain), len(plain), ok200(0), nil)
	if x.up == nil {
		t.Fatal("the request did not reach the upstream")
	}
	u := h.Usage()
	for _, name := range []string{"proxy_on_request_headers", "proxy_on_request_body", "proxy_on_http_call_response"} {
		if s := u.Exports[name]; s.Calls < 1 || s.Time <= 0 {
			t.Errorf("export %s: %+v", name, s)
		}
	}
	if s := u.HostCalls["proxy_http_call"]; s.Calls != 1 {
		t.Errorf("host call proxy_http_call: %+v, want 1 call", s)
	}
	if u.GuestTime() < u.Exports["proxy_on_request_body"].Time {
		t.Errorf("guest time %v is less than one export's", u.GuestTime())
	}
	if c := h.Callouts(); c["/seal"] != 1 || len(c) != 1 {
		t.Errorf("callouts %v, want one to /seal", c)
	}
}
