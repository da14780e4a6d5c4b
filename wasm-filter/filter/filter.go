// Package filter is meshward's proxy-wasm HTTP filter: on every request it asks
// the meshward authorizer for a decision and either lets the request through or
// answers 403 with the reason.
package filter

import (
	"encoding/json"
	"strings"
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
	ReasonAuthzUnavailable = "authorizer-unavailable"
	ReasonAuthzBadAnswer   = "authorizer-bad-answer"
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
	polling bool // an epoch poll is in flight
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
	poll := time.Duration(cfg.EpochPollMillis) * time.Millisecond
	p.cache = newDecisionCache(*cfg.DecisionCacheEntries, 4*poll)
	if *cfg.DecisionCacheEntries > 0 {
		if err := proxywasm.SetTickPeriodMilliSeconds(cfg.EpochPollMillis); err != nil {
			// Without polls the epoch is never confirmed, so the cache stays unused.
			proxywasm.LogErrorf("meshward: no epoch polls (%v): decision cache off", err)
		}
	}
	proxywasm.LogInfof("meshward: filter started: authorizer cluster %q, timeout %d ms, fail %s, cache %d entries",
		cfg.AuthorizerCluster, cfg.TimeoutMillis, cfg.FailMode, *cfg.DecisionCacheEntries)
	return types.OnPluginStartStatusOK
}

// OnTick polls the authorizer's epoch, so that cached answers are dropped
// soon after a policy or quarantine change.
func (p *plugin) OnTick() {
	if p.polling {
		return
	}
	headers := [][2]string{{":method", "GET"}, {":path", check.EpochPath}, {":authority", p.cfg.AuthorizerAuthority}}
	_, err := proxywasm.DispatchHttpCall(p.cfg.AuthorizerCluster, headers, nil, nil, p.cfg.TimeoutMillis, p.onEpoch)
	if err != nil {
		proxywasm.LogDebugf("meshward: epoch poll: %v", err)
		return
	}
	p.polling = true
}

func (p *plugin) onEpoch(numHeaders, bodySize, _ int) {
	p.polling = false
	if numHeaders == 0 {
		return
	}
	body, err := proxywasm.GetHttpCallResponseBody(0, bodySize)
	if err != nil {
		return
	}
	var e check.Epoch
	if json.Unmarshal(body, &e) == nil && e.Epoch > 0 {
		p.cache.observe(e.Epoch, now())
	}
}

func (p *plugin) NewHttpContext(uint32) types.HttpContext {
	return &stream{cfg: &p.cfg, cache: p.cache}
}

type stream struct {
	types.DefaultHttpContext
	cfg   *Config
	cache *decisionCache
	key   string
}

func (s *stream) OnHttpRequestHeaders(int, bool) types.Action {
	_ = proxywasm.RemoveHttpRequestHeader(RuleHeader)
	req := s.facts()
	s.key = cacheKey(&req)
	if e, ok := s.cache.get(s.key, now()); ok {
		if e.allow {
			setRule(e.rule)
			return types.ActionContinue
		}
		deny(e.reason)
		return types.ActionPause
	}
	body, err := json.Marshal(req)
	if err != nil {
		return s.failed("encoding check request: " + err.Error())
	}
	headers := [][2]string{
		{":method", "POST"},
		{":path", check.Path},
		{":authority", s.cfg.AuthorizerAuthority},
		{"content-type", "application/json"},
	}
	if _, err := proxywasm.DispatchHttpCall(s.cfg.AuthorizerCluster, headers, body, nil,
		s.cfg.TimeoutMillis, s.onCheckResponse); err != nil {
		return s.failed("dispatching check to cluster " + s.cfg.AuthorizerCluster + ": " + err.Error())
	}
	return types.ActionPause
}

// facts collects what the authorizer decides on. The source principal comes
// from the peer certificate (mTLS), never from a request header, so a caller
// cannot claim another identity.
func (s *stream) facts() check.Request {
	r := check.Request{
		SourcePrincipal:      property("connection", "uri_san_peer_certificate"),
		SourceAddress:        property("source", "address"),
		Destination:          s.cfg.Destination,
		DestinationNamespace: s.cfg.DestinationNamespace,
		DestinationLabels:    s.cfg.DestinationLabels,
		DestinationService:   s.cfg.DestinationService,
		DestinationAddress:   property("destination", "address"),
		SNI:                  property("connection", "requested_server_name"),
	}
	headers, _ := proxywasm.GetHttpRequestHeaders()
	r.Headers = map[string]string{}
	size := 0
	for _, h := range headers {
		switch {
		case h[0] == ":method":
			r.Method = h[1]
		case h[0] == ":path":
			r.Path = h[1]
		case h[0] == ":authority":
			r.Host = h[1]
		case strings.HasPrefix(h[0], ":") || check.DroppedHeaders[h[0]] || h[0] == RuleHeader:
		case size+len(h[0])+len(h[1]) <= maxForwardedHeaderBytes:
			size += len(h[0]) + len(h[1])
			if prev, ok := r.Headers[h[0]]; ok {
				r.Headers[h[0]] = prev + "," + h[1]
			} else {
				r.Headers[h[0]] = h[1]
			}
		}
	}
	if r.Destination == "" {
		r.Destination = r.Host
	}
	return r
}

// maxForwardedHeaderBytes keeps a check within the authorizer's limit
// (check.MaxRequestBytes) whatever the caller sends; headers past it are not
// forwarded, and a policy on them does not match.
const maxForwardedHeaderBytes = 8 << 10

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
	body, _ := proxywasm.GetHttpCallResponseBody(0, bodySize)
	if code != "200" {
		s.resolveFailure(ReasonAuthzUnavailable, "authorizer answered status "+code)
		return
	}
	resp, err := check.DecodeResponse(body)
	if err != nil {
		s.resolveFailure(ReasonAuthzBadAnswer, err.Error())
		return
	}
	t := now()
	if resp.CacheTTLMillis > 0 {
		s.cache.put(s.key, cached{allow: resp.Allow, reason: resp.Reason, rule: resp.Rule,
			expires: t.Add(time.Duration(resp.CacheTTLMillis) * time.Millisecond)}, resp.Epoch, t)
	} else {
		s.cache.observe(resp.Epoch, t)
	}
	if resp.Allow {
		setRule(resp.Rule)
		_ = proxywasm.ResumeHttpRequest()
		return
	}
	denyWith(resp.Status, resp.Reason)
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
	proxywasm.LogErrorf("meshward: %s (fail %s)", msg, s.cfg.FailMode)
	if s.cfg.FailMode == FailOpen {
		return types.ActionContinue
	}
	deny(ReasonAuthzUnavailable)
	return types.ActionPause
}

// resolveFailure handles an error after the request was paused.
func (s *stream) resolveFailure(reason, msg string) {
	proxywasm.LogWarnf("meshward: %s (fail %s)", msg, s.cfg.FailMode)
	if s.cfg.FailMode == FailOpen {
		_ = proxywasm.ResumeHttpRequest()
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
