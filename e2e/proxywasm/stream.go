package proxywasm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// Proxy-wasm actions.
const (
	actionContinue = 0
	actionPause    = 1
)

// LocalResponse is what the filter answered instead of the upstream.
type LocalResponse struct {
	Status  int
	Headers [][2]string
	Body    []byte
}

type stream struct {
	id              uint32
	requestHeaders  [][2]string
	responseHeaders [][2]string
	properties      map[string][]byte
	local           *LocalResponse
	resumed         chan struct{} // closed on continue or local response
	done            bool
}

func (st *stream) resume() {
	if !st.done {
		st.done = true
		close(st.resumed)
	}
}

// Request is one HTTP request as the filter sees it.
type Request struct {
	// Headers include the pseudo-headers :method, :path, :authority, :scheme.
	Headers     [][2]string
	Properties  map[string]string // keys are property paths joined with "."
	EndOfStream bool
}

// Stream is a request in flight through the filter.
type Stream struct {
	h  *Host
	st *stream
}

// Headers are the request headers after the filter ran.
func (s *Stream) Headers() [][2]string { return s.st.requestHeaders }

// OnRequestHeaders creates a stream and runs the filter on its request
// headers. It returns a local response when the filter answered itself (the
// request must not reach the upstream), or nil when the request goes on.
func (h *Host) OnRequestHeaders(ctx context.Context, req Request) (*Stream, *LocalResponse, error) {
	st := &stream{requestHeaders: lower(req.Headers), properties: map[string][]byte{}, resumed: make(chan struct{})}
	for k, v := range req.Properties {
		st.properties[strings.ReplaceAll(k, ".", "\x00")] = []byte(v)
	}
	h.mu.Lock()
	st.id = h.nextID
	h.nextID++
	h.streams[st.id] = st
	h.current = st.id
	_, err := h.call(ctx, "proxy_on_context_create", uint64(st.id), rootContextID)
	var action uint64
	if err == nil {
		h.current = st.id
		action, err = h.call(ctx, "proxy_on_request_headers", uint64(st.id), uint64(len(st.requestHeaders)), b2u(req.EndOfStream))
	}
	if err == nil && action == actionContinue {
		st.resume()
	}
	h.mu.Unlock()
	s := &Stream{h: h, st: st}
	if err != nil {
		s.Finish(ctx)
		return nil, nil, err
	}
	if err := s.wait(ctx); err != nil {
		s.Finish(ctx)
		return nil, nil, err
	}
	return s, st.local, nil
}

var errStalled = errors.New("proxy-wasm host: the filter neither continued nor answered the request in time")

func (s *Stream) wait(ctx context.Context) error {
	t := time.NewTimer(s.h.cfg.StreamTimeout)
	defer t.Stop()
	select {
	case <-s.st.resumed:
		return nil
	case <-t.C:
		return errStalled
	case <-ctx.Done():
		return ctx.Err()
	}
}

// OnResponseHeaders runs the filter on the upstream's response headers and
// returns them as the filter left them.
func (s *Stream) OnResponseHeaders(ctx context.Context, headers [][2]string) ([][2]string, error) {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	s.st.responseHeaders = lower(headers)
	h.current = s.st.id
	if _, err := h.call(ctx, "proxy_on_response_headers", uint64(s.st.id), uint64(len(headers)), 0); err != nil {
		return nil, err
	}
	return s.st.responseHeaders, nil
}

// Finish ends the stream: log, done, delete, as Envoy does.
func (s *Stream) Finish(ctx context.Context) {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	h.current = s.st.id
	for _, fn := range []string{"proxy_on_log", "proxy_on_done", "proxy_on_delete"} {
		if _, err := h.call(ctx, fn, uint64(s.st.id)); err != nil {
			h.cfg.Log.Error().Err(err).Msg("proxy-wasm host: ending stream")
		}
	}
	delete(h.streams, s.st.id)
}

func lower(pairs [][2]string) [][2]string {
	out := make([][2]string, len(pairs))
	for i, p := range pairs {
		out[i] = [2]string{strings.ToLower(p[0]), p[1]}
	}
	return out
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func (h *Host) continueStream(_ context.Context, _ api.Module, s []uint64) uint32 {
	st := h.streams[h.current]
	if st == nil {
		return statusNotFound
	}
	if arg(s, 0) == 0 { // request; a response is never paused by this host
		st.resume()
	}
	return statusOK
}

func (h *Host) sendLocalResponse(_ context.Context, m api.Module, s []uint64) uint32 {
	st := h.streams[h.current]
	if st == nil {
		return statusNotFound
	}
	body, ok1 := read(m, arg(s, 3), arg(s, 4))
	hdrs, ok2 := read(m, arg(s, 5), arg(s, 6))
	pairs, err := decodePairs(hdrs)
	if !ok1 || !ok2 || err != nil {
		return statusBadArgument
	}
	st.local = &LocalResponse{Status: int(arg(s, 0)), Headers: pairs, Body: body}
	st.resume()
	return statusOK
}

type calloutResult struct {
	headers [][2]string
	body    []byte
}

// httpCall starts a callout to a named cluster. The response is delivered
// later, from another goroutine, through proxy_on_http_call_response.
func (h *Host) httpCall(ctx context.Context, m api.Module, s []uint64) uint32 {
	cluster, ok1 := read(m, arg(s, 0), arg(s, 1))
	hdrs, ok2 := read(m, arg(s, 2), arg(s, 3))
	body, ok3 := read(m, arg(s, 4), arg(s, 5))
	pairs, err := decodePairs(hdrs)
	if !ok1 || !ok2 || !ok3 || err != nil {
		return statusBadArgument
	}
	base, known := h.cfg.Clusters[string(cluster)]
	if !known {
		h.cfg.Log.Warn().Str("cluster", string(cluster)).Msg("proxy-wasm host: http call to unknown cluster")
		return statusBadArgument
	}
	req, err := calloutRequest(base, pairs, body)
	if err != nil {
		return statusBadArgument
	}
	h.nextCID++
	id := h.nextCID
	if !m.Memory().WriteUint32Le(arg(s, 9), id) {
		return statusBadArgument
	}
	timeout := time.Duration(arg(s, 8)) * time.Millisecond
	go h.runCallout(context.WithoutCancel(ctx), id, req, timeout)
	return statusOK
}

func calloutRequest(base string, pairs [][2]string, body []byte) (*http.Request, error) {
	var method, path, authority string
	hdr := http.Header{}
	for _, p := range pairs {
		switch p[0] {
		case ":method":
			method = p[1]
		case ":path":
			path = p[1]
		case ":authority":
			authority = p[1]
		default:
			hdr.Add(p[0], p[1])
		}
	}
	if method == "" || path == "" {
		return nil, fmt.Errorf("callout without :method or :path")
	}
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = hdr
	req.Host = authority
	return req, nil
}

func (h *Host) runCallout(ctx context.Context, id uint32, req *http.Request, timeout time.Duration) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res := &calloutResult{}
	resp, err := h.client.Do(req.WithContext(cctx))
	if err == nil {
		res.body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		res.headers = append(res.headers, [2]string{":status", fmt.Sprint(resp.StatusCode)})
		for k, vs := range resp.Header {
			for _, v := range vs {
				res.headers = append(res.headers, [2]string{strings.ToLower(k), v})
			}
		}
	}
	if err != nil { // Envoy reports a failed callout with no headers
		h.cfg.Log.Warn().Err(err).Uint32("callout", id).Msg("proxy-wasm host: callout failed")
		res = &calloutResult{}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.callout = res
	h.current = rootContextID
	_, err = h.call(ctx, "proxy_on_http_call_response", rootContextID, uint64(id),
		uint64(len(res.headers)), uint64(len(res.body)), 0)
	h.callout = nil
	if err != nil {
		h.cfg.Log.Error().Err(err).Msg("proxy-wasm host: delivering callout response")
	}
}
