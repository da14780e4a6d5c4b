package filter

import (
	"slices"
	"strings"
	"testing"

	"github.com/meshward/meshward/api/check"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
)

var ok200 = [][2]string{{":status", "200"}}

// request runs headers through the filter: the callout it made (nil if it
// made none) and its local answer (nil if none yet).
func request(t *testing.T, host proxytest.HostEmulator, headers [][2]string) (uint32, *proxytest.HttpCalloutAttribute, *proxytest.LocalHttpResponse) {
	t.Helper()
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, headers, true)
	var c *proxytest.HttpCalloutAttribute
	if cs := host.GetCalloutAttributesFromContext(id); len(cs) > 0 {
		c = &cs[len(cs)-1]
	}
	return id, c, host.GetSentLocalResponse(id)
}

// Finding 4: two authorizer replicas with separate quarantine sets behind
// one cluster. B started later, so its epochs are higher; A quarantined the
// frontend. Before, the filter ignored A's lower epochs and kept serving
// B's cached allow.
func TestReplicaSplitInFilter(t *testing.T) {
	host := newHost(t, testConfig)
	poll(t, host, `{"epoch":2000,"instance":"b"}`)
	hot := get("/orders/1")
	_, c, _ := request(t, host, hot)
	host.CallOnHttpCallResponse(c.CalloutID, ok200, nil, answer(t, check.Response{Allow: true, Reason: "allowed", Epoch: 2000, Instance: "b", CacheTTLMillis: 10000}))
	if _, c, _ := request(t, host, hot); c != nil {
		t.Fatal("setup: B's answer was not cached")
	}
	// A's answer after its quarantine (a lower epoch than B's).
	id, c, _ := request(t, host, get("/orders/2"))
	host.CallOnHttpCallResponse(c.CalloutID, ok200, nil, answer(t, check.Response{Reason: "quarantined-source", Epoch: 1001, Instance: "a", CacheTTLMillis: 10000}))
	if l := host.GetSentLocalResponse(id); l == nil || l.StatusCode != 403 {
		t.Fatal("A's denial not applied")
	}
	if _, c, l := request(t, host, hot); c == nil || l != nil {
		t.Fatal("B's cached allow was served after A answered: A's change must drop it")
	}
	// A's answer came while B was the confirmed instance: it was not kept.
	if _, c, _ := request(t, host, get("/orders/2")); c == nil {
		t.Fatal("an answer from an instance other than the confirmed one was cached")
	}
	// A poll answered by A confirms A; a poll answered by B drops A's entries.
	poll(t, host, `{"epoch":1001,"instance":"a"}`)
	_, c, _ = request(t, host, get("/orders/3"))
	host.CallOnHttpCallResponse(c.CalloutID, ok200, nil, answer(t, check.Response{Reason: "quarantined-source", Epoch: 1001, Instance: "a", CacheTTLMillis: 10000}))
	if _, c, l := request(t, host, get("/orders/3")); c != nil || l == nil || l.StatusCode != 403 {
		t.Fatal("setup: A's answer was not cached once A was confirmed")
	}
	poll(t, host, `{"epoch":1,"instance":"b"}`)
	if _, c, _ := request(t, host, get("/orders/3")); c == nil {
		t.Fatal("A's cached answer survived a poll answered by B")
	}
}

// Finding 5: with fail_mode open, requests the authorizer refused (413,
// 400) were let through. Now they fit, or are denied by the filter.
func TestOversizedFactsNeverFailOpen(t *testing.T) {
	host := newHost(t, openConfig)
	attacks := []struct {
		name    string
		headers [][2]string
		check   func(t *testing.T, r check.Request)
	}{
		{"17 KiB query", get("/admin?pad=" + strings.Repeat("a", 17<<10)), func(t *testing.T, r check.Request) {
			if r.Path != "/admin?pad="+strings.Repeat("a", 17<<10) {
				t.Fatalf("path of %d bytes", len(r.Path))
			}
		}},
		{"3000 '<' in a header", get("/admin", [2]string{"x-angle", strings.Repeat("<", 3000)}), func(t *testing.T, r check.Request) {
			if r.Headers["x-angle"] != strings.Repeat("<", 3000) {
				t.Fatal("header not sent whole")
			}
		}},
		{"OPTIONS *", [][2]string{{":method", "OPTIONS"}, {":path", "*"}, {":authority", "orders"}}, func(t *testing.T, r check.Request) {
			if r.Path != "*" || r.Method != "OPTIONS" {
				t.Fatalf("%s %s", r.Method, r.Path)
			}
		}},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			_, c, l := request(t, host, a.headers)
			if c == nil || l != nil {
				t.Fatalf("no check made (local answer %+v)", l)
			}
			req, err := check.DecodeRequest(c.Body) // what the authorizer accepts
			if err != nil {
				t.Fatalf("the authorizer would refuse the check: %v", err)
			}
			a.check(t, req)
			for _, status := range []string{"400", "413"} {
				id, c, _ := request(t, host, a.headers)
				host.CallOnHttpCallResponse(c.CalloutID, [][2]string{{":status", status}}, nil, []byte("refused"))
				if l := host.GetSentLocalResponse(id); l == nil || l.StatusCode != 403 || headerValue(l.Headers, ReasonHeader) != ReasonCheckRejected {
					t.Fatalf("authorizer answered %s, fail open: %+v, want 403 %s", status, l, ReasonCheckRejected)
				}
			}
		})
	}
	for _, hs := range [][][2]string{
		get("/admin?pad=" + strings.Repeat("a", 70<<10)),
		get("/admin\xff"),
		{{":method", "CONNECT"}, {":authority", "orders:443"}},
	} {
		_, c, l := request(t, host, hs)
		if c != nil || l == nil || l.StatusCode != 403 || headerValue(l.Headers, ReasonHeader) != ReasonNotDescribable {
			t.Fatalf("undescribable request %.40q: callout %v, answer %+v; want 403 %s", hs[1][1], c != nil, l, ReasonNotDescribable)
		}
	}
}

// Finding 7: 400 padding headers before x-api-version pushed it out of the
// check, dodging a DENY on it. The epoch answer names it: it goes first.
func TestHeaderPaddingInFilter(t *testing.T) {
	host := newHost(t, testConfig)
	attack := append(get("/v1/orders"), append(padding(400, 200), [2]string{"x-api-version", "v1-legacy"})...)
	poll(t, host, `{"epoch":5,"instance":"a","headers":["x-api-version"]}`)
	_, c, _ := request(t, host, attack)
	req, err := check.DecodeRequest(c.Body)
	if err != nil {
		t.Fatal(err)
	}
	if req.Headers["x-api-version"] != "v1-legacy" || len(req.OmittedHeaders) == 0 || req.OmittedHeadersTruncated {
		t.Fatalf("x-api-version %q; %d omitted, truncated %v", req.Headers["x-api-version"], len(req.OmittedHeaders), req.OmittedHeadersTruncated)
	}
	for _, name := range req.OmittedHeaders {
		if _, sent := req.Headers[name]; sent || !strings.HasPrefix(name, "x-pad-") {
			t.Fatalf("omitted %q", name)
		}
	}
	if n := len(req.Headers) + len(req.OmittedHeaders); n != 401 {
		t.Fatalf("%d headers accounted for, want 401", n)
	}
	// A named header that cannot go whole is denied by the filter itself.
	_, c, l := request(t, host, get("/v1", [2]string{"x-api-version", strings.Repeat("v", 70<<10)}))
	if c != nil || l == nil || headerValue(l.Headers, ReasonHeader) != ReasonNotDescribable {
		t.Fatalf("a named header past the budget: callout %v, answer %+v", c != nil, l)
	}
	// Policies that read every header: the padding itself cannot go whole.
	poll(t, host, `{"epoch":5,"instance":"a","all_headers":true}`)
	if _, c, l := request(t, host, attack); c != nil || l == nil || headerValue(l.Headers, ReasonHeader) != ReasonNotDescribable {
		t.Fatalf("all headers read: callout %v, answer %+v", c != nil, l)
	}
}

// Before the first epoch answer the filter knows no names: a header it
// leaves out is reported, for the authorizer to judge.
func TestHeaderPaddingBeforeNamesAreKnown(t *testing.T) {
	host := newHost(t, testConfig)
	big := append(get("/v1"), append(padding(300, 200), [2]string{"x-api-version", "v1-legacy" + strings.Repeat(" ", 10<<10)})...)
	id, c, _ := request(t, host, big)
	if req, err := check.DecodeRequest(c.Body); err != nil || !slices.Contains(req.OmittedHeaders, "x-api-version") {
		t.Fatalf("x-api-version left out without a word (%v)", err)
	}
	host.CallOnHttpCallResponse(c.CalloutID, ok200, nil, answer(t, check.Response{Reason: "header-omitted", Rule: "shop/no-legacy[0]"}))
	if l := host.GetSentLocalResponse(id); l == nil || headerValue(l.Headers, ReasonHeader) != "header-omitted" {
		t.Fatalf("the authorizer's denial was not applied: %+v", l)
	}
}
