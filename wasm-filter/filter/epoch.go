package filter

import (
	"github.com/meshward/meshward/api/check"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
)

// OnTick polls the authorizer's epoch, so that cached answers are dropped
// soon after a policy or quarantine change, and learns which headers the
// policies read.
func (p *plugin) OnTick() {
	t := now()
	p.eaas.expire(t)
	p.expireAwaiting(t)
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
	if numHeaders == 0 || bodySize > check.MaxEpochBytes {
		return
	}
	status, _ := proxywasm.GetHttpCallResponseHeaders()
	if headerValue(status, ":status") != "200" {
		return
	}
	body, err := proxywasm.GetHttpCallResponseBody(0, bodySize)
	if err != nil {
		return
	}
	e, err := check.DecodeEpoch(body)
	if err != nil {
		proxywasm.LogWarnf("meshward: epoch poll: %v", err)
		return
	}
	p.cache.observe(e.Instance, e.Epoch, now())
	p.named = namedHeaders{names: make(map[string]bool, len(e.Headers)), all: e.AllHeaders}
	for _, h := range e.Headers {
		p.named.names[h] = true
	}
}
