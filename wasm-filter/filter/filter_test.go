package filter

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/meshward/meshward/api/check"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

const (
	testConfig = `{"authorizer_cluster":"meshward-authz","destination":"spiffe://cluster.local/ns/shop/sa/orders"}`
	openConfig = `{"authorizer_cluster":"meshward-authz","fail_mode":"open"}`
)

func newHost(t *testing.T, config string) proxytest.HostEmulator {
	t.Helper()
	opt := proxytest.NewEmulatorOption().WithVMContext(&VM{}).
		WithPluginConfiguration([]byte(config)).
		WithProperty([]string{"connection", "uri_san_peer_certificate"}, []byte("spiffe://cluster.local/ns/shop/sa/frontend")).
		WithProperty([]string{"source", "address"}, []byte("127.0.0.1:40000"))
	host, reset := proxytest.NewHostEmulator(opt)
	t.Cleanup(reset)
	if st := host.StartPlugin(); st != types.OnPluginStartStatusOK {
		t.Fatalf("StartPlugin = %v", st)
	}
	return host
}

var requestHeaders = [][2]string{{":method", "GET"}, {":path", "/orders/7"}, {":authority", "orders"}, {RuleHeader, "forged"},
	{"authorization", "Bearer secret"}, {"cookie", "s=1"}, {"x-b3", "1"}, {"accept", "a"}, {"accept", "b"}}

// sendRequest runs request headers through the filter and returns the stream
// id and the one check callout it made.
func sendRequest(t *testing.T, host proxytest.HostEmulator) (uint32, proxytest.HttpCalloutAttribute) {
	t.Helper()
	id := host.InitializeHttpContext()
	if a := host.CallOnRequestHeaders(id, requestHeaders, true); a != types.ActionPause {
		t.Fatalf("OnHttpRequestHeaders = %v, want Pause while the check is out", a)
	}
	callouts := host.GetCalloutAttributesFromContext(id)
	if len(callouts) != 1 {
		t.Fatalf("%d callouts, want 1", len(callouts))
	}
	return id, callouts[0]
}

func TestCalloutCarriesFacts(t *testing.T) {
	host := newHost(t, testConfig)
	_, c := sendRequest(t, host)
	if c.Upstream != "meshward-authz" {
		t.Fatalf("callout to %q", c.Upstream)
	}
	if headerValue(c.Headers, ":path") != check.Path || headerValue(c.Headers, ":method") != "POST" {
		t.Fatalf("callout headers %v", c.Headers)
	}
	got, err := check.DecodeRequest(c.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := check.Request{
		SourcePrincipal: "spiffe://cluster.local/ns/shop/sa/frontend", SourceAddress: "127.0.0.1:40000",
		Destination: "spiffe://cluster.local/ns/shop/sa/orders", Method: "GET", Path: "/orders/7", Host: "orders",
		Headers: map[string]string{"x-b3": "1", "accept": "a,b"}, // no credentials, no rule header
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("check request %+v, want %+v", got, want)
	}
}

func answer(t *testing.T, resp check.Response) []byte {
	t.Helper()
	b, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecisions(t *testing.T) {
	ok := [][2]string{{":status", "200"}}
	tests := []struct {
		name       string
		config     string
		headers    [][2]string
		body       []byte
		wantStatus uint32 // 0: the request continues
		wantReason string
		wantRule   string // the rule header the upstream gets
	}{
		{name: "allow", config: testConfig, headers: ok, body: answer(t, check.Response{Allow: true, Reason: "allowed"})},
		{name: "allow by rule", config: testConfig, headers: ok, wantRule: "r1",
			body: answer(t, check.Response{Allow: true, Reason: "allowed", Rule: "r1"})},
		{name: "deny", config: testConfig, headers: ok, body: answer(t, check.Response{Reason: "no-matching-rule"}),
			wantStatus: 403, wantReason: "no-matching-rule"},
		{name: "rate limited", config: testConfig, headers: ok, body: answer(t, check.Response{Reason: "rate-limited", Status: 429}),
			wantStatus: 429, wantReason: "rate-limited"},
		{name: "odd status becomes 403", config: testConfig, headers: ok, body: answer(t, check.Response{Reason: "x", Status: 200}),
			wantStatus: 403, wantReason: "x"},
		{name: "callout failed, closed", config: testConfig, headers: nil,
			wantStatus: 403, wantReason: ReasonAuthzUnavailable},
		{name: "authorizer 500, closed", config: testConfig, headers: [][2]string{{":status", "500"}},
			wantStatus: 403, wantReason: ReasonAuthzUnavailable},
		{name: "garbage answer, closed", config: testConfig, headers: ok, body: []byte("{nope"),
			wantStatus: 403, wantReason: ReasonAuthzBadAnswer},
		{name: "callout failed, open", config: openConfig, headers: nil},
		{name: "authorizer 503 (shed), open", config: openConfig, headers: [][2]string{{":status", "503"}}},
		{name: "garbage answer, open", config: openConfig, headers: ok, body: []byte("{nope")},
		{name: "deny stays deny when open", config: openConfig, headers: ok,
			body: answer(t, check.Response{Reason: "quarantined"}), wantStatus: 403, wantReason: "quarantined"},
		// The authorizer refused the check itself: no authorizer could answer
		// for this request, so fail-open does not apply.
		{name: "authorizer 400, closed", config: testConfig, headers: [][2]string{{":status", "400"}},
			wantStatus: 403, wantReason: ReasonCheckRejected},
		{name: "authorizer 400, open", config: openConfig, headers: [][2]string{{":status", "400"}},
			wantStatus: 403, wantReason: ReasonCheckRejected},
		{name: "authorizer 413, open", config: openConfig, headers: [][2]string{{":status", "413"}},
			wantStatus: 403, wantReason: ReasonCheckRejected},
		{name: "authorizer 401, open", config: openConfig, headers: [][2]string{{":status", "401"}},
			wantStatus: 403, wantReason: ReasonCheckRejected},
		{name: "authorizer 302, open", config: openConfig, headers: [][2]string{{":status", "302"}},
			wantStatus: 403, wantReason: ReasonAuthzBadAnswer},
		{name: "authorizer 204, open", config: openConfig, headers: [][2]string{{":status", "204"}},
			wantStatus: 403, wantReason: ReasonAuthzBadAnswer},
		{name: "no status, open", config: openConfig, headers: [][2]string{{"content-type", "text/plain"}},
			wantStatus: 403, wantReason: ReasonAuthzBadAnswer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			host := newHost(t, tc.config)
			id, c := sendRequest(t, host)
			host.CallOnHttpCallResponse(c.CalloutID, tc.headers, nil, tc.body)
			local := host.GetSentLocalResponse(id)
			if tc.wantStatus == 0 {
				if local != nil {
					t.Fatalf("local response %d %s, want the request to continue", local.StatusCode, local.Data)
				}
				if a := host.GetCurrentHttpStreamAction(id); a != types.ActionContinue {
					t.Fatalf("stream action %v, want Continue", a)
				}
				if r := headerValue(host.GetCurrentRequestHeaders(id), RuleHeader); r != tc.wantRule {
					t.Fatalf("rule header %q, want %q (a caller's value never passes)", r, tc.wantRule)
				}
				return
			}
			if local == nil || local.StatusCode != tc.wantStatus {
				t.Fatalf("local response %+v, want %d", local, tc.wantStatus)
			}
			if r := headerValue(local.Headers, ReasonHeader); r != tc.wantReason {
				t.Fatalf("reason header %q, want %q", r, tc.wantReason)
			}
		})
	}
}

func TestBadConfigFailsPluginStart(t *testing.T) {
	opt := proxytest.NewEmulatorOption().WithVMContext(&VM{}).WithPluginConfiguration([]byte(`{"fail_mode":"open"}`))
	host, reset := proxytest.NewHostEmulator(opt)
	defer reset()
	if st := host.StartPlugin(); st != types.OnPluginStartStatusFailed {
		t.Fatalf("StartPlugin = %v, want Failed", st)
	}
}

// poll makes the plugin poll the epoch and answers the poll with body.
func poll(t *testing.T, host proxytest.HostEmulator, body string) {
	t.Helper()
	host.Tick()
	polls := host.GetCalloutAttributesFromContext(proxytest.PluginContextID)
	if len(polls) == 0 || headerValue(polls[len(polls)-1].Headers, ":path") != check.EpochPath {
		t.Fatalf("tick made %v", polls)
	}
	host.CallOnHttpCallResponse(polls[len(polls)-1].CalloutID, [][2]string{{":status", "200"}}, nil, []byte(body))
}

func TestDecisionCacheInFilter(t *testing.T) {
	host := newHost(t, testConfig)
	ok := [][2]string{{":status", "200"}}
	poll(t, host, `{"epoch":10,"instance":"a"}`)
	// 1: a miss goes to the authorizer; its cacheable answer is kept.
	id, c := sendRequest(t, host)
	host.CallOnHttpCallResponse(c.CalloutID, ok, nil, answer(t, check.Response{Allow: true, Reason: "allowed", Rule: "r", Epoch: 10, Instance: "a", CacheTTLMillis: 5000}))
	if host.GetCurrentHttpStreamAction(id) != types.ActionContinue {
		t.Fatal("first request not continued")
	}
	// 2: the same facts are answered from the cache, rule header included.
	id2 := host.InitializeHttpContext()
	if a := host.CallOnRequestHeaders(id2, requestHeaders, true); a != types.ActionContinue {
		t.Fatalf("cached request: action %v, want Continue without a callout", a)
	}
	if n := len(host.GetCalloutAttributesFromContext(id2)); n != 0 {
		t.Fatalf("%d callouts for a cached answer", n)
	}
	if r := headerValue(host.GetCurrentRequestHeaders(id2), RuleHeader); r != "r" {
		t.Fatalf("rule header %q", r)
	}
	// 3: an epoch poll that reports a change drops the entry.
	poll(t, host, `{"epoch":11,"instance":"a"}`)
	id3, c3 := sendRequest(t, host) // fails unless a callout is made
	// A denial is cached too, and answered locally.
	host.CallOnHttpCallResponse(c3.CalloutID, ok, nil, answer(t, check.Response{Reason: "quarantined-source", Epoch: 11, Instance: "a", CacheTTLMillis: 5000}))
	if l := host.GetSentLocalResponse(id3); l == nil || l.StatusCode != 403 {
		t.Fatal("deny not sent")
	}
	id4 := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id4, requestHeaders, true)
	if l := host.GetSentLocalResponse(id4); l == nil || l.StatusCode != 403 || len(host.GetCalloutAttributesFromContext(id4)) != 0 {
		t.Fatal("cached deny not answered locally")
	}
}

func TestUncacheableAnswersAreNotReused(t *testing.T) {
	host := newHost(t, testConfig)
	for i := 0; i < 2; i++ {
		_, c := sendRequest(t, host) // each one needs a callout
		host.CallOnHttpCallResponse(c.CalloutID, [][2]string{{":status", "200"}}, nil, answer(t, check.Response{Allow: true, Reason: "allowed", Epoch: 3, Instance: "a"}))
	}
}

func TestStaleEpochDisablesCache(t *testing.T) {
	host := newHost(t, testConfig)
	t0 := time.Now()
	now = func() time.Time { return t0 }
	defer func() { now = time.Now }()
	poll(t, host, `{"epoch":3,"instance":"a"}`)
	_, c := sendRequest(t, host)
	host.CallOnHttpCallResponse(c.CalloutID, [][2]string{{":status", "200"}}, nil, answer(t, check.Response{Allow: true, Reason: "allowed", Epoch: 3, Instance: "a", CacheTTLMillis: 60000}))
	now = func() time.Time { return t0.Add(100 * time.Millisecond) }
	if a := host.CallOnRequestHeaders(host.InitializeHttpContext(), requestHeaders, true); a != types.ActionContinue {
		t.Fatal("setup: the answer was not cached")
	}
	now = func() time.Time { return t0.Add(1500 * time.Millisecond) } // no poll confirmed the epoch for 1.5 s
	sendRequest(t, host)                                              // needs a callout again
}
