package proxywasm

import (
	"context"

	"github.com/tetratelabs/wazero/api"
)

// body returns the body buffer a call addresses: the chunk the running
// body callback got, or everything the filter buffered (after it returned
// Pause, until it continues: where Envoy keeps it for a callout's answer).
// The stream's direction is returned too, nil when there is no stream.
func (h *Host) body(bufType uint32) (*[]byte, *dir) {
	st := h.streams[h.current]
	if st == nil {
		return nil, nil
	}
	d := &st.req
	if bufType == bufferResponseBody {
		d = &st.resp
	}
	switch {
	case d.cur != nil:
		return d.cur, d
	case d.bufMode:
		return &d.buffer, d
	}
	return nil, d
}

func (h *Host) getBufferBytes(ctx context.Context, m api.Module, s []uint64) uint32 {
	var buf []byte
	switch t := arg(s, 0); t {
	case bufferPluginConfiguration:
		buf = h.cfg.PluginConfig
	case bufferVMConfiguration:
		buf = h.cfg.VMConfig
	case bufferHTTPCallResponseBody:
		if h.callout == nil {
			return statusNotFound
		}
		buf = h.callout.body
	case bufferRequestBody, bufferResponseBody:
		b, d := h.body(t)
		if d == nil {
			return statusNotFound
		}
		if b != nil { // no body now reads as an empty one, as in Envoy
			buf = *b
		}
	default:
		if t > bufferMax {
			return statusBadArgument
		}
		return h.unimplemented("proxy_get_buffer_bytes(other)")(ctx, m, s)
	}
	start, max := int64(arg(s, 1)), int64(arg(s, 2))
	if start > int64(len(buf)) {
		return statusBadArgument
	}
	end := int64(len(buf))
	if max < end-start {
		end = start + max
	}
	return h.give(ctx, m, buf[start:end], arg(s, 3), arg(s, 4))
}

// setBufferBytes changes a body as Envoy's Buffer::copyFrom does: start 0
// drops the first size bytes and puts data in front (size at least the
// length replaces the body, size 0 prepends); a start at or past the end
// appends; anything else is refused.
func (h *Host) setBufferBytes(_ context.Context, m api.Module, s []uint64) uint32 {
	t := arg(s, 0)
	if t != bufferRequestBody && t != bufferResponseBody {
		return statusBadArgument // configurations and callout answers are read-only
	}
	b, d := h.body(t)
	data, ok := read(m, arg(s, 3), arg(s, 4))
	if b == nil || !ok {
		return statusBadArgument
	}
	out, changed, ok := splice(*b, int64(arg(s, 1)), int64(arg(s, 2)), data)
	if !ok {
		return statusBadArgument
	}
	*b, d.modified = out, d.modified || changed
	return statusOK
}

// splice is Envoy's Buffer::copyFrom on buf; changed says whether the
// bytes differ in any way from before, ok whether start was accepted.
func splice(buf []byte, start, size int64, data []byte) (out []byte, changed, ok bool) {
	switch n := int64(len(buf)); {
	case start == 0:
		size = min(size, n)
		out = append(append(make([]byte, 0, int64(len(data))+n-size), data...), buf[size:]...)
		return out, size > 0 || len(data) > 0, true
	case start >= n:
		return append(buf, data...), len(data) > 0, true
	}
	return buf, false, false
}
