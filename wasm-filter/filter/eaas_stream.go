package filter

import (
	"strings"
	"time"

	"github.com/meshward/meshward/api/eaas"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// phase is where one direction of a stream stands.
type phase uint8

const (
	// pending: the check (inbound) or the enrolment (outbound) is out and
	// the headers are held: any body is held too, since a body callback
	// that continues would also let the paused headers through.
	pending phase = iota
	// needBody: EaaS needs the whole body; it is buffered until its end.
	needBody
	// busy: an EaaS step is under way.
	busy
	passed
	refused
)

// eaasStream is a stream's EaaS state.
//
// Envoy runs a proxy-wasm filter in one of two ways, and the filter cannot
// ask which. By default a Pause in a headers callback stops the body too:
// no body callback comes until the filter resumes, so the headers must go
// on (without content-length, with or without the mark) before the body
// can be buffered and replaced. With allow_on_headers_stop_iteration body
// callbacks come while the headers wait, so the headers can wait for the
// replaced body. A body callback while the headers are held happens only
// in the second way: the plugin learns it from that (heldBodies), and
// until then sends headers ahead, which is correct in both.
type eaasStream struct {
	req, resp  phase
	inCallback bool // a body callback is running: it continues by its return value
	hasBody    bool
	bodySize   int
	marked     bool
	mark       string
	reqAhead   bool       // the request's headers went on before its body was replaced
	respAhead  bool       // likewise the response's
	host       string     // outbound: the :authority's host
	peer       *eaas.Peer // outbound: the peer the request body is sealed for
	sentTo     *eaas.Peer // outbound: the peer the request body was sealed for
	replyTo    *uint32    // inbound: the source of the decrypted request
	replySeq   uint64     // inbound: its envelope's sequence number
	sentSeq    uint64     // outbound: the sequence number of the envelope sent
	respMark   string     // outbound: the response's mark
	deadline   time.Time  // a coordinator callout is out until then
	bodyDone   bool       // the request body's last byte is buffered
	respSize   int
	gone       bool // the stream is done
}

// takeMark reads and removes the request's mark: the app never sees it.
func (s *stream) takeMark() {
	s.x.mark, s.x.marked = takeOne(takeHeader(proxywasm.GetHttpRequestHeaders, proxywasm.RemoveHttpRequestHeader, eaas.MarkHeader))
}

// takeHeader removes every value of name from a header map and returns
// them. Envoy removes all values at once, but a host that removes one per
// call must not leave a second mark behind for the app or the wire.
func takeHeader(get func() ([][2]string, error), remove func(string) error, name string) []string {
	headers, _ := get()
	var values []string
	for _, h := range headers {
		if strings.EqualFold(h[0], name) {
			values = append(values, h[1])
		}
	}
	for range max(len(values), 1) {
		_ = remove(name)
	}
	return values
}

// takeOne is the mark among values: a second one is no filter's (a sidecar
// sends one), so the message counts as marked with one that never parses.
func takeOne(values []string) (string, bool) {
	if len(values) != 1 {
		return "", len(values) > 1
	}
	return values[0], true
}

// maxBatchBytes bounds what one coordinator exchange holds in the VM: a
// body travels 2^t times (t ≤ 8).
const maxBatchBytes = 64 << 20

// maxRequestBody bounds the request body the filter buffers: at the
// destination it is an envelope, a little larger than its plaintext.
func (s *stream) maxRequestBody() int64 {
	if s.p.cfg.EAAS.Direction == Inbound {
		return s.p.cfg.EAAS.MaxBodyBytes + envelopeSlack
	}
	return s.p.cfg.EAAS.MaxBodyBytes
}

// maxResponseBody likewise: at the source the response body is an
// envelope; at the destination it is sealed behind its request's binding.
func (s *stream) maxResponseBody() int64 {
	if s.p.cfg.EAAS.Direction == Outbound {
		return s.p.cfg.EAAS.MaxBodyBytes + envelopeSlack
	}
	return s.p.cfg.EAAS.MaxBodyBytes - maxBindingBytes
}

func tooLarge() *refusal { return &refusal{413, ReasonEAASBodyTooLarge, "body over max_body_bytes"} }

func (s *stream) passRequest(inHeaders bool) types.Action {
	s.x.req = passed
	if !inHeaders && !s.x.inCallback {
		_ = proxywasm.ResumeHttpRequest()
	}
	return types.ActionContinue
}

func (s *stream) passResponse() {
	s.x.resp = passed
	if !s.x.inCallback {
		_ = proxywasm.ResumeHttpResponse()
	}
}

// refuse ends the stream with a local answer and logs one line: the
// reason and what happened, never a body, token or key. Once the headers
// went on ahead, Envoy resets the upstream (request) or the downstream
// (response) instead: the body never follows them.
func (s *stream) refuse(r *refusal) {
	proxywasm.LogWarnf("meshward: eaas: refused %d %s: %s", r.status, r.reason, r.msg)
	s.x.req, s.x.resp = refused, refused
	headers := [][2]string{{ReasonHeader, r.reason}, {"content-type", "text/plain"}}
	if err := proxywasm.SendHttpResponse(uint32(r.status), headers, []byte("meshward: refused: "+r.reason+"\n"), -1); err != nil {
		proxywasm.LogErrorf("meshward: sending %d: %v", r.status, err)
	}
}

// resumeContext makes the stream's context effective for a callout's
// answer; false when the stream was answered or is gone.
func (s *stream) resumeContext() bool {
	delete(s.p.awaiting, s.id)
	if s.x.req == refused || s.x.resp == refused || s.x.gone {
		return false
	}
	return proxywasm.SetEffectiveContext(s.id) == nil
}

// awaiting registers a callout's deadline: if its answer never comes (Envoy
// drops it when the stream that sent a shared callout is gone), OnTick
// answers the stream with 503.
func (s *stream) awaiting(deadline time.Time) {
	s.x.deadline = deadline
	s.p.awaiting[s.id] = s
}

func (p *plugin) expireAwaiting(t time.Time) {
	for id, s := range p.awaiting {
		if t.After(s.x.deadline) {
			delete(p.awaiting, id)
			if proxywasm.SetEffectiveContext(id) == nil {
				s.refuse(unavailable("coordinator answer overdue"))
			}
		}
	}
}

// OnHttpStreamDone forgets the stream.
func (s *stream) OnHttpStreamDone() {
	s.x.gone = true
	delete(s.p.awaiting, s.id)
}
