package proxywasm

import (
	"context"
	"strconv"

	"github.com/tetratelabs/wazero/api"
)

// actionStopped is what a callback's result becomes when the filter sent a
// local response during it (Envoy's stopNextIteration): nothing goes on.
const actionStopped = 4

// callback runs a stream callback with the stream as the effective
// context. The caller holds h.mu, handles the result, and then runs
// runDeferred: what the filter asked for during the callback (continue,
// local response) happens after the VM call returned, as in Envoy.
func (h *Host) callback(ctx context.Context, s *Stream, name string, args ...uint64) (uint64, error) {
	h.current = s.id
	s.stopNext = false
	action, err := h.call(ctx, name, args...)
	if s.stopNext {
		action = actionStopped
	}
	return action, err
}

// runDeferred runs the actions the guest asked for, including those that
// their own callbacks ask for. The caller holds h.mu.
func (h *Host) runDeferred(ctx context.Context) {
	for len(h.after) > 0 {
		f := h.after[0]
		h.after = h.after[1:]
		f(ctx)
	}
}

func (h *Host) continueStream(_ context.Context, m api.Module, a []uint64) uint32 {
	st := h.streams[h.current]
	if st == nil {
		return statusNotFound
	}
	var d *dir
	switch arg(a, 0) {
	case 0:
		d = &st.req
	case 1:
		d = &st.resp
	case 2, 3: // downstream and upstream: TCP streams, which this host does not run
		return h.unimplemented("proxy_continue_stream(tcp)")(context.Background(), m, a)
	default:
		return statusBadArgument
	}
	h.after = append(h.after, func(ctx context.Context) {
		if st.closed {
			return
		}
		if err := st.resume(ctx, d); err != nil {
			h.cfg.Log.Error().Err(err).Msg("proxy-wasm host: filter failed")
			st.failDir(d, err)
		}
	})
	return statusOK
}

func (h *Host) sendLocalResponse(_ context.Context, m api.Module, a []uint64) uint32 {
	st := h.streams[h.current]
	if st == nil {
		return statusNotFound
	}
	status := arg(a, 0)
	body, ok1 := read(m, arg(a, 3), arg(a, 4))
	hdrs, ok2 := read(m, arg(a, 5), arg(a, 6))
	pairs, err := decodePairs(hdrs)
	if !ok1 || !ok2 || err != nil || status < 200 || status > 599 {
		return statusBadArgument
	}
	l := LocalResponse{Status: int(status), Headers: lower(pairs), Body: body}
	st.stopNext = true
	h.after = append(h.after, func(ctx context.Context) { st.localReply(ctx, l) })
	return statusOK
}

// localReply answers the client instead of the upstream. Nothing more goes
// upstream (a request already under way there is reset). Like Envoy's
// sendLocalReply, it runs through the filter's response callbacks when no
// response has started, goes straight to the client when one has started
// but not gone out, and resets the stream when response headers have gone.
func (s *Stream) localReply(ctx context.Context, l LocalResponse) {
	if s.closed {
		return
	}
	s.failDir(&s.req, errLocalReply)
	r := &s.resp
	switch {
	case !r.started:
		r.headers = localHeaders(l)
		eos := len(l.Body) == 0
		err := s.runHeaders(ctx, r, eos)
		if err == nil && !eos {
			err = s.runData(ctx, r, append([]byte(nil), l.Body...), true)
		}
		if err != nil {
			s.h.cfg.Log.Error().Err(err).Msg("proxy-wasm host: filter failed on a local response")
			s.failDir(r, err)
		}
	case !r.sent:
		s.directReply(r, l)
	default:
		s.failDir(r, errReset)
	}
}

// directReply answers the client without the filter (Envoy's
// sendDirectLocalReply).
func (s *Stream) directReply(d *dir, l LocalResponse) {
	if d.sent {
		s.failDir(d, errReset)
		return
	}
	d.done, d.sent, d.held, d.endSent, d.buffer = true, true, false, true, nil
	d.out.setHeaders(localHeaders(l), int64(len(l.Body)))
	d.out.write(l.Body, true)
	d.room()
}

// localHeaders are Envoy's for a local reply: the status, the filter's
// headers, the length and, for a body, a content type.
func localHeaders(l LocalResponse) [][2]string {
	hs := [][2]string{{":status", strconv.Itoa(l.Status)}}
	typed := false
	for _, p := range l.Headers {
		if p[0] == "content-length" || (len(p[0]) > 0 && p[0][0] == ':') {
			continue
		}
		typed = typed || p[0] == "content-type"
		hs = append(hs, p)
	}
	hs = append(hs, [2]string{"content-length", strconv.Itoa(len(l.Body))})
	if len(l.Body) > 0 && !typed {
		hs = append(hs, [2]string{"content-type", "text/plain"})
	}
	return hs
}
