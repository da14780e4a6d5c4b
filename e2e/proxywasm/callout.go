package proxywasm

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"
)

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
	if h.calls == nil {
		h.calls = map[string]int{}
	}
	h.calls[req.URL.Path]++
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
		// Envoy fails a callout whose answer exceeds the buffer limit
		// (ExceedResponseBufferLimit) rather than cut it.
		res.body, err = readAll(resp.Body, h.cfg.BufferLimit)
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
	h.runDeferred(ctx)
}
