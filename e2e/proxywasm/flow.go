package proxywasm

import (
	"context"
	"fmt"
	"strconv"
)

// Proxy-wasm callback results. Headers: 0 Continue, 1 StopIteration; data:
// 0 Continue, 1 StopIterationAndBuffer, 2 StopIterationAndWatermark, 3 (and
// anything above) StopIterationNoBuffer.
const (
	actionContinue  = 0
	actionPause     = 1
	actionWatermark = 2
	actionNoBuffer  = 3
)

// dir is one direction of a stream (the request, or the response) as
// Envoy's filter manager runs it through a single filter. All fields are
// guarded by the VM lock.
type dir struct {
	resp     bool
	started  bool        // the headers were given to the filter
	headers  [][2]string // the filter's view of them
	open     bool        // the filter may read and change the headers (Envoy keeps the map until they go on)
	held     bool        // the headers wait for the filter
	sent     bool        // the headers went on
	stopAll  bool        // Pause in headers taken as StopAllIterationAndWatermark: body callbacks wait
	buffer   []byte      // body the filter holds back (Envoy: the filter's buffered data)
	cur      *[]byte     // the body the running body callback sees
	bufMode  bool        // the last body callback returned StopIterationAndBuffer: the next sees the whole buffer
	watermrk bool        // the last body callback returned StopIterationAndWatermark
	srcEnded bool        // the source sent its end of stream
	endSent  bool
	done     bool // no more filter calls: the direction finished, failed or was replaced
	modified bool // the filter changed or dropped body bytes
	declared int64
	released int64
	out      *pipe
	roomCh   chan struct{} // one pending note for the pump: the pipe drained or the filter let go
}

func (d *dir) name() string {
	if d.resp {
		return "response"
	}
	return "request"
}

func (d *dir) hook(phase string) string { return "proxy_on_" + d.name() + "_" + phase }

// runHeaders gives the filter the headers (the caller set d.headers).
func (s *Stream) runHeaders(ctx context.Context, d *dir, eos bool) error {
	d.started, d.open, d.srcEnded = true, true, eos
	action, err := s.h.callback(ctx, s, d.hook("headers"), uint64(s.id), uint64(len(d.headers)), b2u(eos))
	if err != nil || d.done {
		return err
	}
	switch {
	case action == actionContinue:
		d.open = false
		s.release(d, nil, eos)
	case action == actionPause && s.h.cfg.AllowOnHeadersStopIteration:
		d.held = true // StopIteration: body callbacks go on
	default:
		// Envoy's default for ABI 0.2 (proxy-wasm-cpp-host issue 143):
		// Pause in headers stops the body too, until the filter continues.
		d.held, d.stopAll = true, true
	}
	return nil
}

// runData takes one piece of the source's body.
func (s *Stream) runData(ctx context.Context, d *dir, chunk []byte, eos bool) error {
	if d.done || d.endSent {
		return nil
	}
	d.srcEnded = eos
	if d.stopAll { // Envoy buffers below the filter, with flow control instead of a limit
		d.buffer = append(d.buffer, chunk...)
		return nil
	}
	return s.deliver(ctx, d, chunk, eos)
}

// deliver runs the body callback on chunk, as Envoy's Context::decodeData
// and encodeData do.
func (s *Stream) deliver(ctx context.Context, d *dir, chunk []byte, eos bool) error {
	inBuffer := d.bufMode
	if inBuffer { // the filter sees everything buffered so far
		d.buffer = append(d.buffer, chunk...)
		if len(d.buffer) > s.h.cfg.BufferLimit {
			s.tooLarge(ctx, d)
			return nil
		}
		d.cur = &d.buffer
	} else {
		d.cur = &chunk
	}
	action, err := s.h.callback(ctx, s, d.hook("body"), uint64(s.id), uint64(len(*d.cur)), b2u(eos))
	d.cur, d.bufMode, d.watermrk = nil, false, false
	if err != nil || d.done {
		return err
	}
	switch action {
	case actionContinue:
		data := chunk
		if inBuffer {
			data = d.buffer
		} else if len(d.buffer) > 0 {
			data = append(d.buffer, chunk...)
		}
		d.buffer = nil
		s.release(d, data, eos)
	case actionPause, actionWatermark:
		if !inBuffer {
			d.buffer = append(d.buffer, chunk...)
		}
		d.bufMode, d.watermrk = action == actionPause, action == actionWatermark
		if d.bufMode && len(d.buffer) > s.h.cfg.BufferLimit {
			s.tooLarge(ctx, d)
		}
	default: // StopIterationNoBuffer: the filter took the chunk
		if !inBuffer && len(chunk) > 0 {
			d.modified = true
		}
	}
	return nil
}

// resume is proxy_continue_stream, run once the callback that asked for it
// returned (Envoy defers it the same way).
func (s *Stream) resume(ctx context.Context, d *dir) error {
	if d.done || !d.started {
		return nil
	}
	d.open = false
	wasStopAll := d.stopAll
	d.stopAll = false
	if d.held {
		s.release(d, nil, d.srcEnded && len(d.buffer) == 0)
	}
	data := d.buffer
	d.buffer = nil
	switch {
	case wasStopAll && len(data) > 0:
		// Envoy resumes a StopAll filter from itself: it gets what was buffered.
		return s.deliver(ctx, d, data, d.srcEnded)
	case len(data) > 0 || (d.srcEnded && !d.endSent):
		s.release(d, data, d.srcEnded)
	}
	d.room()
	return nil
}

// release passes on what the filter let through: the headers, if they
// still wait, then data.
func (s *Stream) release(d *dir, data []byte, end bool) {
	if d.endSent || d.done {
		return
	}
	if !d.sent {
		length, err := s.length(d, data, end)
		if err != nil {
			s.h.cfg.Log.Error().Err(err).Msg("proxy-wasm host: refusing to forward")
			s.failDir(d, err)
			return
		}
		d.held, d.sent, d.declared = false, true, declaredLength(d.headers)
		d.out.setHeaders(d.headers, length)
	}
	d.released += int64(len(data))
	if d.modified && d.declared >= 0 && (d.released > d.declared || (end && d.released != d.declared)) {
		err := fmt.Errorf("%s: %w: content-length %d, body %d bytes so far", d.name(), errStaleLength, d.declared, d.released)
		s.h.cfg.Log.Error().Err(err).Msg("proxy-wasm host: cutting the stream")
		s.failDir(d, err)
		return
	}
	d.endSent = end
	if len(data) > 0 || end {
		d.out.write(data, end)
	}
	if end {
		d.done = true
	}
	d.room()
}

var errStaleLength = fmt.Errorf("the filter changed the body but left a content-length that does not fit " +
	"(Envoy forwards it as it is: remove content-length in the headers callback, or set the new one while the headers are held)")

// length is the content length to send with the headers.
func (s *Stream) length(d *dir, data []byte, end bool) (int64, error) {
	cl := declaredLength(d.headers)
	if cl == -2 {
		return 0, fmt.Errorf("%s: the filter left an invalid content-length %q", d.name(), value(d.headers, "content-length"))
	}
	if cl >= 0 {
		if end && d.modified && cl != int64(len(data)) {
			return 0, fmt.Errorf("%s: %w: content-length %d, body %d bytes", d.name(), errStaleLength, cl, len(data))
		}
		return cl, nil
	}
	if end {
		return int64(len(data)), nil
	}
	return -1, nil
}

// declaredLength is the content-length header's value: -1 when there is
// none, -2 when it is not one number.
func declaredLength(headers [][2]string) int64 {
	n, found := int64(-1), false
	for _, h := range headers {
		if h[0] != "content-length" {
			continue
		}
		v, err := strconv.ParseInt(h[1], 10, 64)
		if err != nil || v < 0 || (found && v != n) {
			return -2
		}
		n, found = v, true
	}
	return n
}

// tooLarge is Envoy's answer to a filter that buffers past the limit: 413
// for a request, 500 for a response whose headers have not gone (and a
// reset if they have).
func (s *Stream) tooLarge(ctx context.Context, d *dir) {
	d.buffer = nil
	s.h.cfg.Log.Warn().Str("direction", d.name()).Int("limit", s.h.cfg.BufferLimit).
		Msg("proxy-wasm host: the filter buffered more than the buffer limit")
	if !d.resp {
		s.localReply(ctx, LocalResponse{Status: 413, Body: []byte("Payload Too Large")})
		return
	}
	s.directReply(d, LocalResponse{Status: 500, Body: []byte("Internal Server Error")})
}

// failDir ends a direction with an error its reader sees.
func (s *Stream) failDir(d *dir, err error) {
	d.done, d.buffer = true, nil
	d.out.fail(err)
	d.room()
}
