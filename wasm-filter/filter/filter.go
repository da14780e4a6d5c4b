// Package filter is meshward's proxy-wasm HTTP filter: on every request it asks
// the meshward authorizer for a decision and either lets the request through or
// answers 403 with the reason.
package filter

import (
	"fmt"
	"time"

	"github.com/meshward/meshward/api/check"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// ReasonHeader carries the reason id of a denial to the caller.
const ReasonHeader = "x-meshward-reason"

// RuleHeader tells the destination which policy rule allowed the request. The
// filter always sets or removes it, so a caller cannot forge it.
const RuleHeader = "x-meshward-rule"

// Reason ids the filter itself produces (the authorizer has its own).
const (
	// ReasonAuthzUnavailable: no answer, a timeout or a 5xx (fail_mode applies).
	ReasonAuthzUnavailable = "authorizer-unavailable"
	// ReasonAuthzBadAnswer: a 200 that does not parse (fail_mode applies), or
	// a status that is neither 200, 4xx nor 5xx (always denied).
	ReasonAuthzBadAnswer = "authorizer-bad-answer"
	// ReasonNotDescribable: the request's decisive facts (method, path, host,
	// a header a policy reads) cannot be sent whole. Always denied: fail-open
	// is for an authorizer that cannot answer, not for a request no
	// authorizer could decide.
	ReasonNotDescribable = "request-not-describable"
	// ReasonCheckRejected: the authorizer answered 4xx (it refused the check
	// itself). Always denied, for the same reason.
	ReasonCheckRejected = "check-rejected"
)

// VM is the root of the filter; Envoy creates one per Wasm VM.
type VM struct {
	types.DefaultVMContext
}

// NewPluginContext implements types.VMContext.
func (*VM) NewPluginContext(uint32) types.PluginContext { return &plugin{} }

type plugin struct {
	types.DefaultPluginContext
	cfg     Config
	cache   *decisionCache
	named   namedHeaders // from the last epoch answer
	polling bool         // an epoch poll is in flight
	eaas    *enroller
	// awaiting are the streams with a coordinator callout out.
	awaiting map[uint32]*stream
	// heldBodies: Envoy gave a body callback while the headers were held,
	// which it does only with allow_on_headers_stop_iteration: from then on
	// EaaS holds headers until their body is replaced (see eaasStream).
	heldBodies bool
}

// now is the clock; tests replace it.
var now = time.Now

func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	data, err := proxywasm.GetPluginConfiguration()
	if err != nil {
		proxywasm.LogCriticalf("meshward: reading plugin configuration: %v", err)
		return types.OnPluginStartStatusFailed
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		proxywasm.LogCriticalf("meshward: %v", err)
		return types.OnPluginStartStatusFailed
	}
	p.cfg = cfg
	p.eaas, p.awaiting = &enroller{p: p}, map[uint32]*stream{}
	poll := time.Duration(cfg.EpochPollMillis) * time.Millisecond
	p.cache = newDecisionCache(*cfg.DecisionCacheEntries, 4*poll)
	// Polls run with the cache off too: they bring the headers policies read.
	if err := proxywasm.SetTickPeriodMilliSeconds(cfg.EpochPollMillis); err != nil {
		// Without polls the epoch is never confirmed, so the cache stays unused.
		proxywasm.LogErrorf("meshward: no epoch polls (%v): decision cache off", err)
	}
	proxywasm.LogInfof("meshward: filter started: authorizer cluster %q, timeout %d ms, fail %s, cache %d entries, eaas %v (%s)",
		cfg.AuthorizerCluster, cfg.TimeoutMillis, cfg.FailMode, *cfg.DecisionCacheEntries, cfg.EAAS.Enabled, cfg.EAAS.Direction)
	return types.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(id uint32) types.HttpContext {
	return &stream{p: p, id: id}
}

type stream struct {
	types.DefaultHttpContext
	p   *plugin
	id  uint32
	key string
	x   eaasStream
}

func (s *stream) OnHttpRequestHeaders(_ int, endOfStream bool) types.Action {
	_ = proxywasm.RemoveHttpRequestHeader(RuleHeader)
	s.x.hasBody = !endOfStream
	if s.p.cfg.EAAS.Direction == Outbound {
		return s.outboundHeaders()
	}
	s.takeMark()
	headers, err := proxywasm.GetHttpRequestHeaders()
	if err != nil {
		return s.undescribable("reading request headers: " + err.Error())
	}
	req, err := describe(s.facts(), headers, &s.p.named, check.MaxRequestBytes)
	if err != nil {
		return s.undescribable(err.Error())
	}
	s.key = cacheKey(&req)
	if e, ok := s.p.cache.get(s.key, now()); ok {
		if e.allow {
			return s.allowed(e.rule, e.encrypt, true)
		}
		deny(e.reason)
		return types.ActionPause
	}
	body, err := encode(req)
	if err != nil || len(body) > check.MaxRequestBytes { // describe keeps it within; never sent otherwise
		return s.undescribable(fmt.Sprintf("encoded check is %d bytes (%v)", len(body), err))
	}
	headers = [][2]string{
		{":method", "POST"},
		{":path", check.Path},
		{":authority", s.p.cfg.AuthorizerAuthority},
		{"content-type", "application/json"},
	}
	if _, err := proxywasm.DispatchHttpCall(s.p.cfg.AuthorizerCluster, headers, body, nil,
		s.p.cfg.TimeoutMillis, s.onCheckResponse); err != nil {
		return s.failed("dispatching check to cluster " + s.p.cfg.AuthorizerCluster + ": " + err.Error())
	}
	return types.ActionPause
}

// undescribable denies a request the filter cannot describe to the
// authorizer, whatever the fail mode.
func (s *stream) undescribable(msg string) types.Action {
	proxywasm.LogWarnf("meshward: %s: denied", msg)
	deny(ReasonNotDescribable)
	return types.ActionPause
}

// facts are what the connection and the configuration say (describe adds
// the request's own). The source
// principal comes from the peer certificate (mTLS), never from a request
// header, so a caller cannot claim another identity.
func (s *stream) facts() check.Request {
	r := check.Request{
		SourcePrincipal:      property("connection", "uri_san_peer_certificate"),
		SourceAddress:        property("source", "address"),
		RequestPrincipal:     property("metadata", "filter_metadata", "istio_authn", "request.auth.principal"),
		Destination:          s.p.cfg.Destination,
		DestinationNamespace: s.p.cfg.DestinationNamespace,
		DestinationLabels:    s.p.cfg.DestinationLabels,
		DestinationService:   s.p.cfg.DestinationService,
		DestinationAddress:   property("destination", "address"),
		SNI:                  property("connection", "requested_server_name"),
	}
	if r.Destination == "" {
		// The sidecar's own certificate names its workload: the authorizer
		// answers a sidecar only about requests to that identity.
		r.Destination = property("connection", "uri_san_local_certificate")
	}
	return r
}

func property(path ...string) string {
	v, err := proxywasm.GetProperty(path)
	if err != nil {
		return ""
	}
	return string(v)
}

func (s *stream) onCheckResponse(numHeaders, bodySize, _ int) {
	if numHeaders == 0 {
		s.resolveFailure(ReasonAuthzUnavailable, "check callout failed or timed out")
		return
	}
	status, _ := proxywasm.GetHttpCallResponseHeaders()
	code := headerValue(status, ":status")
	switch {
	case len(code) == 3 && code[0] == '5':
		s.resolveFailure(ReasonAuthzUnavailable, "authorizer answered status "+code)
		return
	case len(code) == 3 && code[0] == '4':
		proxywasm.LogWarnf("meshward: authorizer refused the check with status %s: denied", code)
		deny(ReasonCheckRejected)
		return
	case code != "200":
		proxywasm.LogWarnf("meshward: authorizer answered status %q: denied", code)
		deny(ReasonAuthzBadAnswer)
		return
	}
	body, _ := proxywasm.GetHttpCallResponseBody(0, bodySize)
	resp, err := check.DecodeResponse(body)
	if err != nil {
		s.resolveFailure(ReasonAuthzBadAnswer, err.Error())
		return
	}
	t := now()
	if resp.CacheTTLMillis > 0 {
		s.p.cache.put(s.key, cached{allow: resp.Allow, reason: resp.Reason, rule: resp.Rule, encrypt: mustEncrypt(resp),
			expires: t.Add(time.Duration(resp.CacheTTLMillis) * time.Millisecond)}, resp.Instance, resp.Epoch, t)
	} else {
		s.p.cache.observe(resp.Instance, resp.Epoch, t)
	}
	if resp.Allow {
		s.allowed(resp.Rule, mustEncrypt(resp), false)
		return
	}
	denyWith(resp.Status, resp.Reason)
}

// mustEncrypt: the answer carries the obligation that the body be encrypted.
func mustEncrypt(r check.Response) bool {
	for _, o := range r.Obligations {
		if o == "encrypt" {
			return true
		}
	}
	return false
}

func setRule(rule string) {
	if rule != "" {
		_ = proxywasm.ReplaceHttpRequestHeader(RuleHeader, rule)
	}
}

// cacheKey is what a cacheable answer depends on (the authorizer says which
// answers are): source principal, method, path, host and destination.
func cacheKey(r *check.Request) string {
	return r.SourcePrincipal + "\x00" + r.Method + "\x00" + r.Path + "\x00" + r.Host + "\x00" + r.Destination + "\x00" + r.DestinationAddress
}

func headerValue(headers [][2]string, key string) string {
	for _, h := range headers {
		if h[0] == key {
			return h[1]
		}
	}
	return ""
}

// failed handles an error before the callout was sent: the request is still
// in OnHttpRequestHeaders, so it is continued or answered there.
func (s *stream) failed(msg string) types.Action {
	proxywasm.LogErrorf("meshward: %s (fail %s)", msg, s.p.cfg.FailMode)
	if s.p.cfg.FailMode == FailOpen {
		return s.allowed("", false, true)
	}
	deny(ReasonAuthzUnavailable)
	return types.ActionPause
}

// resolveFailure handles an error after the request was paused.
func (s *stream) resolveFailure(reason, msg string) {
	proxywasm.LogWarnf("meshward: %s (fail %s)", msg, s.p.cfg.FailMode)
	if s.p.cfg.FailMode == FailOpen {
		s.allowed("", false, false)
		return
	}
	deny(reason)
}

func deny(reason string) { denyWith(403, reason) }

// denyWith answers with the authorizer's status (403, or 429 when rate
// limited); anything else it might send becomes 403.
func denyWith(status int, reason string) {
	if status != 429 {
		status = 403
	}
	headers := [][2]string{{ReasonHeader, reason}, {"content-type", "text/plain"}}
	if err := proxywasm.SendHttpResponse(uint32(status), headers, []byte("meshward: denied: "+reason+"\n"), -1); err != nil {
		proxywasm.LogErrorf("meshward: sending 403: %v", err)
	}
}
