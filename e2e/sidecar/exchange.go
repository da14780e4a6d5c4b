package sidecar

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/e2e/proxywasm"
	"github.com/meshward/meshward/internal/pathnorm"
)

// exchange runs requests through one filter to one upstream: what the
// inbound and the outbound sides share.
type exchange struct {
	host     *proxywasm.Host
	upstream string // scheme://host:port
	client   *http.Client
	log      zerolog.Logger
	norm     pathnorm.Mode
	// props are the connection's properties for the filter; upstreamProps
	// those of the upstream connection, known once it answered.
	props         func(*http.Request) map[string]string
	upstreamProps func(*http.Response) map[string]string
}

// hop-by-hop headers are not forwarded (RFC 9110, section 7.6.1).
var hopByHop = map[string]bool{"connection": true, "keep-alive": true, "proxy-connection": true,
	"te": true, "trailer": true, "transfer-encoding": true, "upgrade": true}

// Envoy's listener_direction property (an int64, 8 bytes little-endian).
var (
	inbound  = string(binary.LittleEndian.AppendUint64(nil, 1))
	outbound = string(binary.LittleEndian.AppendUint64(nil, 2))
)

func (x *exchange) serve(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	target, err := pathnorm.Normalize(originForm(r.RequestURI), x.norm)
	if err != nil { // the error names a byte offset, never the target: a query may hold secrets
		x.log.Warn().Err(err).Str("method", r.Method).Msg("sidecar: request path rejected")
		http.Error(w, "sidecar: "+err.Error(), http.StatusBadRequest)
		return
	}
	req := proxywasm.Request{Headers: requestHeaders(r, target), Properties: x.props(r), EndOfStream: !hasBody(r)}
	var body io.Reader
	if !req.EndOfStream {
		body = r.Body
	}
	st, err := x.host.Decode(ctx, req, body)
	if err != nil {
		x.log.Error().Err(err).Msg("sidecar: filter failed")
		http.Error(w, "sidecar: filter failed", http.StatusInternalServerError)
		return
	}
	defer st.Finish(context.WithoutCancel(ctx))
	up, err := st.Upstream(ctx)
	if err != nil {
		x.log.Error().Err(err).Msg("sidecar: filter failed on the request")
		http.Error(w, "sidecar: filter failed", http.StatusInternalServerError)
		return
	}
	if up != nil {
		if resp := x.forward(ctx, st, up); resp != nil {
			defer resp.Body.Close()
		}
	}
	down, err := st.Downstream(ctx)
	if err != nil {
		x.log.Error().Err(err).Msg("sidecar: filter failed on the response")
		http.Error(w, "sidecar: filter failed", http.StatusInternalServerError)
		return
	}
	x.write(w, down)
}

func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

func requestHeaders(r *http.Request, target string) [][2]string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	hs := [][2]string{{":method", r.Method}, {":path", target}, {":authority", r.Host}, {":scheme", scheme}}
	for k, vs := range r.Header {
		if hopByHop[strings.ToLower(k)] {
			continue
		}
		for _, v := range vs {
			hs = append(hs, [2]string{strings.ToLower(k), v})
		}
	}
	if r.ContentLength > 0 && r.Header.Get("Content-Length") == "" {
		hs = append(hs, [2]string{"content-length", strconv.FormatInt(r.ContentLength, 10)})
	}
	return hs
}

// forward sends the request the filter let through and runs the answer
// (or, when there is none, a 502 of the sidecar's, as Envoy's router
// answers) through the filter. It returns the upstream's response, whose
// body the caller closes once the client has it.
func (x *exchange) forward(ctx context.Context, st *proxywasm.Stream, up *proxywasm.Message) *http.Response {
	out, err := x.request(ctx, up)
	if err != nil {
		up.Body.Close()
		x.log.Error().Err(err).Msg("sidecar: cannot forward the request the filter let through")
		x.respondLocal(ctx, st, http.StatusBadGateway, "sidecar: cannot forward the request\n")
		return nil
	}
	resp, err := x.client.Do(out)
	if err != nil {
		x.log.Warn().Err(withoutURL(err)).Str("path", pathOf(out.URL)).Msg("sidecar: upstream failed")
		x.respondLocal(ctx, st, http.StatusBadGateway, "sidecar: upstream unavailable\n")
		return nil
	}
	if x.upstreamProps != nil {
		for k, v := range x.upstreamProps(resp) {
			st.SetProperty(k, v)
		}
	}
	hs := [][2]string{{":status", strconv.Itoa(resp.StatusCode)}}
	for k, vs := range resp.Header {
		for _, v := range vs {
			hs = append(hs, [2]string{strings.ToLower(k), v})
		}
	}
	if resp.ContentLength >= 0 && resp.Header.Get("Content-Length") == "" {
		hs = append(hs, [2]string{"content-length", strconv.FormatInt(resp.ContentLength, 10)})
	}
	var body io.Reader = resp.Body
	if resp.ContentLength == 0 {
		body = nil
	}
	if err := st.Respond(ctx, hs, body); err != nil {
		x.log.Error().Err(err).Msg("sidecar: filter failed on the response headers")
	}
	return resp
}

func (x *exchange) respondLocal(ctx context.Context, st *proxywasm.Stream, status int, msg string) {
	hs := [][2]string{{":status", strconv.Itoa(status)}, {"content-type", "text/plain"},
		{"content-length", strconv.Itoa(len(msg))}}
	if err := st.Respond(ctx, hs, strings.NewReader(msg)); err != nil {
		x.log.Error().Err(err).Msg("sidecar: filter failed on the response headers")
	}
}

// request is the upstream request for what the filter let through: its
// headers, and its body as the filter releases it.
func (x *exchange) request(ctx context.Context, m *proxywasm.Message) (*http.Request, error) {
	out, err := http.NewRequestWithContext(ctx, m.Header(":method"), x.upstream, nil)
	if err != nil {
		return nil, withoutURL(err)
	}
	if err := setTarget(out.URL, m.Header(":path")); err != nil {
		return nil, err
	}
	out.Host = m.Header(":authority")
	for _, h := range m.Headers {
		if h[0] != "" && h[0][0] != ':' && !hopByHop[h[0]] && h[0] != "content-length" {
			out.Header.Add(h[0], h[1])
		}
	}
	switch out.ContentLength = m.ContentLength; m.ContentLength {
	case 0:
		m.Body.Close()
		out.Body = http.NoBody
	default: // -1: chunked
		out.Body = m.Body
	}
	return out, nil
}

// write answers the client with what the filter let through. A body that
// breaks off (the stream was reset) aborts the connection, so that the
// client never takes a cut body for a whole one.
func (x *exchange) write(w http.ResponseWriter, m *proxywasm.Message) {
	defer m.Body.Close()
	status, err := strconv.Atoi(m.Header(":status"))
	if err != nil || status < 200 || status > 999 {
		x.log.Error().Str("status", m.Header(":status")).Msg("sidecar: the response has no valid :status")
		http.Error(w, "sidecar: invalid response status", http.StatusBadGateway)
		return
	}
	for _, h := range m.Headers {
		if h[0] != "" && h[0][0] != ':' && !hopByHop[h[0]] && h[0] != "content-length" {
			w.Header().Add(h[0], h[1])
		}
	}
	if m.ContentLength >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(m.ContentLength, 10))
	}
	w.WriteHeader(status)
	if _, err := io.Copy(w, m.Body); err != nil && !errors.Is(err, io.EOF) {
		x.log.Warn().Err(err).Msg("sidecar: response cut")
		panic(http.ErrAbortHandler)
	}
}
