package proxywasm

import (
	"context"
	"strings"

	"github.com/tetratelabs/wazero/api"
)

// Proxy-wasm map and buffer types this host serves.
const (
	mapRequestHeaders       = 0
	mapRequestTrailers      = 1
	mapResponseHeaders      = 2
	mapResponseTrailers     = 3
	mapHTTPCallResponseHdrs = 6
	mapHTTPCallResponseTrl  = 7

	bufferHTTPCallResponseBody = 4
	bufferVMConfiguration      = 6
	bufferPluginConfiguration  = 7
)

// headerMap returns the map a call addresses, or nil if there is none now.
func (h *Host) headerMap(mapType uint32) *[][2]string {
	switch mapType {
	case mapHTTPCallResponseHdrs:
		if h.callout != nil {
			return &h.callout.headers
		}
		return nil
	case mapHTTPCallResponseTrl:
		if h.callout != nil {
			return new([][2]string)
		}
		return nil
	}
	st := h.streams[h.current]
	if st == nil {
		return nil
	}
	switch mapType {
	case mapRequestHeaders:
		return &st.requestHeaders
	case mapResponseHeaders:
		return &st.responseHeaders
	case mapRequestTrailers, mapResponseTrailers:
		return new([][2]string) // trailers are not passed to the filter here
	}
	return nil
}

func (h *Host) getHeaderMapPairs(ctx context.Context, m api.Module, s []uint64) uint32 {
	hm := h.headerMap(arg(s, 0))
	if hm == nil {
		return statusNotFound
	}
	return h.give(ctx, m, encodePairs(*hm), arg(s, 1), arg(s, 2))
}

func (h *Host) getHeaderMapValue(ctx context.Context, m api.Module, s []uint64) uint32 {
	hm := h.headerMap(arg(s, 0))
	key, ok := read(m, arg(s, 1), arg(s, 2))
	if hm == nil || !ok {
		return statusBadArgument
	}
	k := strings.ToLower(string(key))
	for _, p := range *hm {
		if p[0] == k {
			return h.give(ctx, m, []byte(p[1]), arg(s, 3), arg(s, 4))
		}
	}
	return statusNotFound
}

func (h *Host) setHeaderMapPairs(_ context.Context, m api.Module, s []uint64) uint32 {
	hm := h.headerMap(arg(s, 0))
	data, ok := read(m, arg(s, 1), arg(s, 2))
	if hm == nil || !ok {
		return statusBadArgument
	}
	pairs, err := decodePairs(data)
	if err != nil {
		return statusBadArgument
	}
	for i := range pairs {
		pairs[i][0] = strings.ToLower(pairs[i][0])
	}
	*hm = pairs
	return statusOK
}

// keyValue reads the key and value arguments at stack positions 1..4.
func keyValue(m api.Module, s []uint64) (string, string, bool) {
	k, ok1 := read(m, arg(s, 1), arg(s, 2))
	v, ok2 := read(m, arg(s, 3), arg(s, 4))
	return strings.ToLower(string(k)), string(v), ok1 && ok2
}

func (h *Host) addHeaderMapValue(_ context.Context, m api.Module, s []uint64) uint32 {
	hm := h.headerMap(arg(s, 0))
	k, v, ok := keyValue(m, s)
	if hm == nil || !ok {
		return statusBadArgument
	}
	*hm = append(*hm, [2]string{k, v})
	return statusOK
}

func (h *Host) replaceHeaderMapValue(_ context.Context, m api.Module, s []uint64) uint32 {
	hm := h.headerMap(arg(s, 0))
	k, v, ok := keyValue(m, s)
	if hm == nil || !ok {
		return statusBadArgument
	}
	*hm = append(without(*hm, k), [2]string{k, v})
	return statusOK
}

func (h *Host) removeHeaderMapValue(_ context.Context, m api.Module, s []uint64) uint32 {
	hm := h.headerMap(arg(s, 0))
	key, ok := read(m, arg(s, 1), arg(s, 2))
	if hm == nil || !ok {
		return statusBadArgument
	}
	*hm = without(*hm, strings.ToLower(string(key)))
	return statusOK
}

func without(pairs [][2]string, key string) [][2]string {
	out := pairs[:0:0]
	for _, p := range pairs {
		if p[0] != key {
			out = append(out, p)
		}
	}
	return out
}

func (h *Host) getBufferBytes(ctx context.Context, m api.Module, s []uint64) uint32 {
	var buf []byte
	switch arg(s, 0) {
	case bufferPluginConfiguration:
		buf = h.cfg.PluginConfig
	case bufferVMConfiguration:
		buf = h.cfg.VMConfig
	case bufferHTTPCallResponseBody:
		if h.callout == nil {
			return statusNotFound
		}
		buf = h.callout.body
	default:
		// Request and response bodies are not passed to the filter by this host.
		h.unimplemented("proxy_get_buffer_bytes(body)")(ctx, m, s)
		return statusUnimplemented
	}
	start, max := int(arg(s, 1)), int(arg(s, 2))
	if start > len(buf) {
		return statusBadArgument
	}
	end := len(buf)
	if max < end-start {
		end = start + max
	}
	return h.give(ctx, m, buf[start:end], arg(s, 3), arg(s, 4))
}
