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
	mapMax                  = 7

	bufferRequestBody          = 0
	bufferResponseBody         = 1
	bufferHTTPCallResponseBody = 4
	bufferVMConfiguration      = 6
	bufferPluginConfiguration  = 7
	bufferMax                  = 8
)

// access is what the filter may do with a header map now. As in Envoy, a
// stream's headers are the filter's until they go on (the callback
// continued, or the filter resumed): after that they cannot be read or
// changed, except read in proxy_on_log.
type access int

const (
	noAccess access = iota
	readOnly
	readWrite
)

// headerMap returns the map a call addresses and what the filter may do.
func (h *Host) headerMap(mapType uint32) (*[][2]string, access) {
	switch mapType {
	case mapHTTPCallResponseHdrs:
		if h.callout != nil {
			return &h.callout.headers, readOnly
		}
		return nil, noAccess
	case mapHTTPCallResponseTrl:
		if h.callout != nil {
			return new([][2]string), readOnly
		}
		return nil, noAccess
	}
	st := h.streams[h.current]
	if st == nil {
		return nil, noAccess
	}
	var d *dir
	switch mapType {
	case mapRequestHeaders:
		d = &st.req
	case mapResponseHeaders:
		d = &st.resp
	case mapRequestTrailers, mapResponseTrailers:
		return new([][2]string), readWrite // trailers are not passed on by this host
	default:
		return nil, noAccess
	}
	switch {
	case d.open:
		return &d.headers, readWrite
	case h.logPhase && d.started:
		return &d.headers, readOnly
	}
	return nil, noAccess
}

// writable returns the map a changing call addresses, or nil.
func (h *Host) writable(mapType uint32) *[][2]string {
	hm, acc := h.headerMap(mapType)
	if acc != readWrite {
		return nil
	}
	return hm
}

func (h *Host) getHeaderMapPairs(ctx context.Context, m api.Module, s []uint64) uint32 {
	if arg(s, 0) > mapMax {
		return statusBadArgument
	}
	var pairs [][2]string // Envoy answers an unavailable map with no pairs
	if hm, acc := h.headerMap(arg(s, 0)); acc != noAccess {
		pairs = *hm
	}
	return h.give(ctx, m, encodePairs(pairs), arg(s, 1), arg(s, 2))
}

func (h *Host) getHeaderMapValue(ctx context.Context, m api.Module, s []uint64) uint32 {
	hm, acc := h.headerMap(arg(s, 0))
	key, ok := read(m, arg(s, 1), arg(s, 2))
	if acc == noAccess || !ok {
		return statusBadArgument
	}
	if v, found := lookup(*hm, strings.ToLower(string(key))); found {
		return h.give(ctx, m, []byte(v), arg(s, 3), arg(s, 4))
	}
	return statusNotFound
}

func lookup(pairs [][2]string, key string) (string, bool) {
	for _, p := range pairs {
		if p[0] == key {
			return p[1], true
		}
	}
	return "", false
}

func (h *Host) setHeaderMapPairs(_ context.Context, m api.Module, s []uint64) uint32 {
	hm := h.writable(arg(s, 0))
	data, ok := read(m, arg(s, 1), arg(s, 2))
	if hm == nil || !ok {
		return statusBadArgument
	}
	pairs, err := decodePairs(data)
	if err != nil {
		return statusBadArgument
	}
	*hm = lower(pairs)
	return statusOK
}

// keyValue reads the key and value arguments at stack positions 1..4.
func keyValue(m api.Module, s []uint64) (string, string, bool) {
	k, ok1 := read(m, arg(s, 1), arg(s, 2))
	v, ok2 := read(m, arg(s, 3), arg(s, 4))
	return strings.ToLower(string(k)), string(v), ok1 && ok2
}

func (h *Host) addHeaderMapValue(_ context.Context, m api.Module, s []uint64) uint32 {
	hm := h.writable(arg(s, 0))
	k, v, ok := keyValue(m, s)
	if hm == nil || !ok {
		return statusBadArgument
	}
	*hm = append(*hm, [2]string{k, v})
	return statusOK
}

func (h *Host) replaceHeaderMapValue(_ context.Context, m api.Module, s []uint64) uint32 {
	hm := h.writable(arg(s, 0))
	k, v, ok := keyValue(m, s)
	if hm == nil || !ok {
		return statusBadArgument
	}
	*hm = append(without(*hm, k), [2]string{k, v})
	return statusOK
}

func (h *Host) removeHeaderMapValue(_ context.Context, m api.Module, s []uint64) uint32 {
	hm := h.writable(arg(s, 0))
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
