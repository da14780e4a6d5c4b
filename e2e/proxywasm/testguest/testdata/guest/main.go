//go:build wasip1

// The test guest drives the proxy-wasm ABI by hand (no SDK) so that the
// host's body semantics are tested call by call. What it does is chosen per
// request by the flags in its x-test header (see testguest's doc); what it
// saw it writes into the bodies it replaces.
package main

import (
	"strconv"
	"strings"
	"unsafe"
)

func main() {}

//go:wasmimport env proxy_log
func proxyLog(level uint32, msg unsafe.Pointer, size uint32) uint32

//go:wasmimport env proxy_get_header_map_value
func getHeader(typ uint32, key unsafe.Pointer, keySize uint32, retPtr, retSize unsafe.Pointer) uint32

//go:wasmimport env proxy_replace_header_map_value
func replaceHeader(typ uint32, key unsafe.Pointer, keySize uint32, val unsafe.Pointer, valSize uint32) uint32

//go:wasmimport env proxy_remove_header_map_value
func removeHeader(typ uint32, key unsafe.Pointer, keySize uint32) uint32

//go:wasmimport env proxy_get_buffer_bytes
func getBuffer(typ, start, size uint32, retPtr, retSize unsafe.Pointer) uint32

//go:wasmimport env proxy_set_buffer_bytes
func setBuffer(typ, start, size uint32, data unsafe.Pointer, dataSize uint32) uint32

//go:wasmimport env proxy_continue_stream
func continueStream(typ uint32) uint32

//go:wasmimport env proxy_send_local_response
func sendLocal(status uint32, detail unsafe.Pointer, detailSize uint32, body unsafe.Pointer, bodySize uint32,
	headers unsafe.Pointer, headersSize uint32, grpc int32) uint32

//go:wasmimport env proxy_http_call
func httpCall(cluster unsafe.Pointer, clusterSize uint32, headers unsafe.Pointer, headersSize uint32,
	body unsafe.Pointer, bodySize uint32, trailers unsafe.Pointer, trailersSize uint32, timeout uint32, token unsafe.Pointer) uint32

//go:wasmimport env proxy_set_effective_context
func setEffectiveContext(id uint32) uint32

// Out-parameters live in globals: they never move while the host writes.
var outPtr, outSize, outToken uint32

var pinned [][]byte

//go:wasmexport proxy_on_memory_allocate
func onAllocate(size uint32) *byte {
	if size == 0 {
		size = 1
	}
	b := make([]byte, size)
	pinned = append(pinned, b)
	return &b[0]
}

// result copies what the host handed over and unpins it.
func result() []byte {
	var b []byte
	if outPtr != 0 && outSize != 0 {
		b = append(b, unsafe.Slice((*byte)(unsafe.Pointer(uintptr(outPtr))), outSize)...)
	}
	pinned, outPtr, outSize = nil, 0, 0
	return b
}

func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

//go:wasmexport proxy_abi_version_0_2_1
func abiVersion() {}

//go:wasmexport proxy_on_vm_start
func onVMStart(uint32, uint32) uint32 { return 1 }

//go:wasmexport proxy_on_configure
func onConfigure(uint32, uint32) uint32 { return 1 }

type stream struct {
	flags      map[string]bool
	trace      []string // what the request side saw
	rtrace     []string // what the response side saw
	bodyCalls  int
	requestEnd bool
}

var (
	streams  = map[uint32]*stream{}
	callouts = map[uint32]uint32{} // token -> context
)

//go:wasmexport proxy_on_context_create
func onContextCreate(id, parent uint32) {
	if parent != 0 {
		streams[id] = &stream{flags: map[string]bool{}}
	}
}

//go:wasmexport proxy_on_log
func onLog(uint32) {}

//go:wasmexport proxy_on_done
func onDone(uint32) uint32 { return 1 }

//go:wasmexport proxy_on_delete
func onDelete(id uint32) { delete(streams, id) }

const (
	mapRequest, mapResponse   = 0, 2
	bodyRequest, bodyResponse = 0, 1
	continueAction, pause     = 0, 1
)

func header(typ uint32, key string) (string, uint32) {
	k := []byte(key)
	st := getHeader(typ, ptr(k), uint32(len(k)), unsafe.Pointer(&outPtr), unsafe.Pointer(&outSize))
	return string(result()), st
}

func setHeader(typ uint32, key, val string) uint32 {
	k, v := []byte(key), []byte(val)
	return replaceHeader(typ, ptr(k), uint32(len(k)), ptr(v), uint32(len(v)))
}

func dropHeader(typ uint32, key string) uint32 {
	k := []byte(key)
	return removeHeader(typ, ptr(k), uint32(len(k)))
}

func body(typ uint32) []byte {
	if getBuffer(typ, 0, 1<<31-1, unsafe.Pointer(&outPtr), unsafe.Pointer(&outSize)) != 0 {
		return nil
	}
	return result()
}

// replace puts data in place of the whole body, as the Go SDK does.
func replace(typ uint32, data []byte) uint32 {
	return setBuffer(typ, 0, 1<<31-1, ptr(data), uint32(len(data)))
}

func eosMark(eos uint32) string { return strconv.Itoa(int(eos)) }

//go:wasmexport proxy_on_request_headers
func onRequestHeaders(id, n, eos uint32) uint32 {
	s := streams[id]
	v, _ := header(mapRequest, "x-test")
	for _, f := range strings.Split(v, ",") {
		s.flags[strings.TrimSpace(f)] = true
	}
	s.trace = append(s.trace, "H"+eosMark(eos))
	if s.flags["dropcl"] {
		dropHeader(mapRequest, "content-length")
	}
	if s.flags["callout"] {
		dispatch(id, "/resume", nil)
	}
	if s.flags["hpause"] {
		return pause
	}
	return continueAction
}

func dispatch(id uint32, path string, data []byte) {
	hs := pairs([][2]string{{":method", "POST"}, {":path", path}, {":authority", "svc"}})
	c := []byte("svc")
	if httpCall(ptr(c), 3, ptr(hs), uint32(len(hs)), ptr(data), uint32(len(data)), nil, 0, 5000, unsafe.Pointer(&outToken)) == 0 {
		callouts[outToken] = id
	}
}

//go:wasmexport proxy_on_request_body
func onRequestBody(id, size, eos uint32) uint32 {
	s := streams[id]
	s.bodyCalls++
	s.trace = append(s.trace, "B"+strconv.Itoa(int(size))+":"+eosMark(eos))
	if s.flags["hdr"] {
		st := setHeader(mapRequest, "x-body-calls", strconv.Itoa(s.bodyCalls))
		s.trace = append(s.trace, "h"+strconv.Itoa(int(st)))
	}
	if eos == 0 {
		if s.flags["buffer"] {
			return pause
		}
		return continueAction
	}
	switch {
	case s.flags["local"]:
		local(451, "refused by guest")
		return pause
	case s.flags["seal"]:
		dispatch(id, "/seal", body(bodyRequest))
		return pause
	case s.flags["trace"]:
		t := []byte(strings.Join(s.trace, " "))
		s.trace = append(s.trace, "set"+strconv.Itoa(int(replace(bodyRequest, t))))
		if s.flags["setcl"] {
			setHeader(mapRequest, "content-length", strconv.Itoa(len(t)))
		}
	}
	return continueAction
}

func local(status uint32, msg string) {
	b := []byte(msg)
	hs := pairs([][2]string{{"x-guest-local", "1"}})
	sendLocal(status, nil, 0, ptr(b), uint32(len(b)), ptr(hs), uint32(len(hs)), -1)
}

//go:wasmexport proxy_on_http_call_response
func onCalloutResponse(_, token, nHeaders, bodySize, _ uint32) {
	id, ok := callouts[token]
	delete(callouts, token)
	s := streams[id]
	if !ok || s == nil || setEffectiveContext(id) != 0 {
		return
	}
	s.trace = append(s.trace, "C")
	if s.flags["seal"] && s.bodyCalls > 0 {
		sealed := body(4)
		// The request body is still the host's buffer after Pause: replace it here.
		if replace(bodyRequest, sealed) != 0 {
			local(500, "guest could not replace the body")
			return
		}
		if s.flags["setcl"] {
			setHeader(mapRequest, "content-length", strconv.Itoa(len(sealed)))
		}
	}
	continueStream(0)
}

//go:wasmexport proxy_on_response_headers
func onResponseHeaders(id, n, eos uint32) uint32 {
	s := streams[id]
	status, _ := header(mapResponse, ":status")
	s.rtrace = append(s.rtrace, "R"+status+":"+eosMark(eos))
	if s.flags["rhdr"] {
		setHeader(mapResponse, "x-guest", "seen")
		dropHeader(mapResponse, "x-secret")
	}
	if s.flags["rdropcl"] {
		dropHeader(mapResponse, "content-length")
	}
	if s.flags["rhpause"] {
		return pause
	}
	return continueAction
}

//go:wasmexport proxy_on_response_body
func onResponseBody(id, size, eos uint32) uint32 {
	s := streams[id]
	s.rtrace = append(s.rtrace, "b"+strconv.Itoa(int(size))+":"+eosMark(eos))
	if eos == 0 {
		if s.flags["rbuffer"] {
			return pause
		}
		return continueAction
	}
	switch {
	case s.flags["rlocal"]:
		local(502, "guest refused the response")
		return pause
	case s.flags["rtrace"]:
		replace(bodyResponse, []byte(strings.Join(s.rtrace, " ")))
	}
	return continueAction
}

// pairs serializes a header map the proxy-wasm way.
func pairs(ps [][2]string) []byte {
	b := le(nil, uint32(len(ps)))
	for _, p := range ps {
		b = le(le(b, uint32(len(p[0]))), uint32(len(p[1])))
	}
	for _, p := range ps {
		b = append(append(append(append(b, p[0]...), 0), p[1]...), 0)
	}
	return b
}

func le(b []byte, v uint32) []byte { return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24)) }

var _ = proxyLog
