package sidecar

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// router is the outbound side's router filter: the request the Wasm filter
// let through goes to the cluster its :authority routes to, at one of the
// cluster's current endpoints.
type router struct{ o *OutboundXDS }

func (rt router) RoundTrip(req *http.Request) (*http.Response, error) {
	o := rt.o
	st := o.state.Load()
	cluster, ok := st.routes.match(req.Host, req.URL.RequestURI())
	if !ok {
		return local(req, http.StatusNotFound, "no route"), nil
	}
	ep, ok := st.pick(cluster, &o.rr)
	if !ok {
		return local(req, http.StatusServiceUnavailable, "no healthy upstream"), nil
	}
	resp, err := o.send(st, req, cluster, ep)
	if err != nil && replayable(req) && !o.current(cluster, ep) {
		// Istio's default retry policy (connect-failure, reset before a
		// response) on an endpoint EDS has just taken away: once, on a
		// current endpoint.
		st = o.state.Load()
		if ep, ok = st.pick(cluster, &o.rr); ok {
			resp, err = o.send(st, req, cluster, ep)
		}
	}
	return resp, err
}

// send makes one attempt at ep with the cluster's TLS.
func (o *OutboundXDS) send(st *outboundState, req *http.Request, cluster string, ep netip.AddrPort) (*http.Response, error) {
	t := st.transports[cluster]
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host = "https", ep.String()
	if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody {
		b, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		out.Body = b
	}
	resp, err := t.RoundTrip(out)
	if o.cfg.OnUpstream != nil {
		o.cfg.OnUpstream(cluster, ep.String(), err)
	}
	return resp, err
}

// current says whether ep is still one of the cluster's endpoints.
func (o *OutboundXDS) current(cluster string, ep netip.AddrPort) bool {
	st := o.state.Load()
	return slices.Contains(st.endpoints[st.clusters[cluster].eds], ep)
}

// pick is the next endpoint of an EDS cluster, round robin.
func (st *outboundState) pick(cluster string, rr interface{ Add(uint64) uint64 }) (netip.AddrPort, bool) {
	c, ok := st.clusters[cluster]
	if !ok || c.eds == "" || st.transports[cluster] == nil {
		return netip.AddrPort{}, false
	}
	eps := st.endpoints[c.eds]
	if len(eps) == 0 {
		return netip.AddrPort{}, false
	}
	return eps[rr.Add(1)%uint64(len(eps))], true
}

// replayable says whether a request can be sent again: no body, or one it
// can read again.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// local is the router's own answer, as Envoy's local reply: nothing was
// sent upstream.
func local(req *http.Request, status int, msg string) *http.Response {
	body := msg + "\n"
	if req.Body != nil {
		req.Body.Close()
	}
	return &http.Response{StatusCode: status, Status: strconv.Itoa(status) + " " + http.StatusText(status),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Request: req, ContentLength: int64(len(body)),
		Header: http.Header{"Content-Type": {"text/plain"}}, Body: io.NopCloser(strings.NewReader(body))}
}

// sanCheck is peerCheck for a cluster's SANs, speaking HTTP/1.1.
func sanCheck(base *tls.Config, sans []string) *tls.Config {
	cfg := peerCheck(base, sans...)
	cfg.NextProtos = []string{"http/1.1"}
	return cfg
}
