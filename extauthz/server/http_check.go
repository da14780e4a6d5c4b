package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/meshward/meshward/api/check"
	"github.com/meshward/meshward/extauthz/decision"
	"github.com/meshward/meshward/extauthz/policy"
)

// readCheckBody reads a check's body within deadline and
// check.MaxRequestBytes, answering the caller itself when it cannot.
func readCheckBody(w http.ResponseWriter, r *http.Request, deadline time.Duration) ([]byte, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "check: use POST", http.StatusMethodNotAllowed)
		return nil, false
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(deadline))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, check.MaxRequestBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		http.Error(w, fmt.Sprintf("check: body too large: over %d bytes", check.MaxRequestBytes), http.StatusRequestEntityTooLarge)
		return nil, false
	case err != nil:
		http.Error(w, "check: reading body: "+err.Error(), http.StatusBadRequest)
		return nil, false
	}
	return body, true
}

// ServeCheck is the filter's HTTP check: POST check.Path with a check.Request
// (its body already read by the shedder). A malformed request is answered 400
// with what is wrong; the filter takes a 4xx for a denial, and applies its
// fail mode only to 5xx and no answer.
func (a *Authorizer) ServeCheck(w http.ResponseWriter, r *http.Request, body []byte) {
	start := time.Now()
	req, err := check.DecodeRequest(body)
	if err != nil {
		a.Metrics.decisions.WithLabelValues("http", "deny", decision.ReasonBadRequest).Inc()
		a.Log.Warn().Err(err).Str("remote", r.RemoteAddr).Msg("bad check request")
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	epoch := a.Engine.Epoch() // read before deciding: a change during the decision moves it past this
	preq := PolicyRequest(&req)
	w.Header().Set("Content-Type", "application/json")
	if reason, err := a.vouch(verifiedID(r.TLS), preq); err != nil {
		a.refuse("http", reason, err)
		_ = json.NewEncoder(w).Encode(check.Response{Reason: reason, Epoch: epoch, Instance: a.Engine.Instance(), Status: http.StatusForbidden})
		return
	}
	d := a.decide("http", preq, start)
	resp := check.Response{Allow: d.Allow, Reason: d.Reason, Rule: d.Rule, Epoch: epoch,
		Instance: a.Engine.Instance(), Status: d.Status, Obligations: d.Obligations}
	if d.Cacheable {
		resp.CacheTTLMillis = uint32(a.CacheTTL.Milliseconds())
	}
	_ = json.NewEncoder(w).Encode(resp)
}

// ServeEpoch answers the filters' epoch polls: the epoch of this instance,
// and the headers the policies read, which the filters send first.
func (a *Authorizer) ServeEpoch(w http.ResponseWriter, _ *http.Request) {
	e := check.Epoch{Epoch: a.Engine.Epoch(), Instance: a.Engine.Instance()}
	e.Headers, e.AllHeaders = epochHeaders(a.Engine.HeaderNames())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(e)
}

// epochHeaders fits the names into what a filter accepts. A name that is no
// header name never reaches a policy (Envoy refuses such headers), so it is
// left out; past check.MaxHeaderNames the filter is told that all headers
// matter. Either way the engine, not the filter, judges what a check left
// out.
func epochHeaders(names []string, all bool) ([]string, bool) {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if check.HeaderName(n) {
			out = append(out, n)
		}
	}
	if len(out) > check.MaxHeaderNames {
		return nil, true
	}
	return out, all
}

// PolicyRequest maps the filter's wire format onto the engine's facts.
func PolicyRequest(r *check.Request) *policy.Request {
	return &policy.Request{
		SourcePrincipal:         r.SourcePrincipal,
		SourceAddress:           r.SourceAddress,
		RequestPrincipal:        r.RequestPrincipal,
		RemoteAddress:           r.RemoteAddress,
		Destination:             r.Destination,
		DestinationNamespace:    r.DestinationNamespace,
		DestinationLabels:       r.DestinationLabels,
		DestinationService:      r.DestinationService,
		DestinationAddress:      r.DestinationAddress,
		Host:                    r.Host,
		Method:                  r.Method,
		Path:                    r.Path,
		Headers:                 r.Headers,
		SNI:                     r.SNI,
		OmittedHeaders:          r.OmittedHeaders,
		OmittedHeadersTruncated: r.OmittedHeadersTruncated,
	}
}
