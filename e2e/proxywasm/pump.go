package proxywasm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// chunkSize is how much of a body one body callback gets at most (Envoy
// hands over what one read brought, usually 16 KiB of TLS record).
const chunkSize = 32 << 10

// pump reads a source body and feeds it to the filter. length is the
// source's content-length (-1 when unknown): the chunk that completes it
// carries the end of stream, as Envoy's codecs do.
func (s *Stream) pump(ctx context.Context, d *dir, body interface{ Read([]byte) (int, error) }, length int64) {
	buf := make([]byte, chunkSize)
	var total int64
	for s.waitRoom(d) {
		n, err := body.Read(buf)
		total += int64(n)
		end := errors.Is(err, io.EOF) || (length >= 0 && total >= length)
		if err != nil && !end {
			s.abort(d, fmt.Errorf("proxy-wasm host: reading the %s body: %w", d.name(), err))
			return
		}
		if n == 0 && !end {
			continue
		}
		if !s.feed(ctx, d, append([]byte(nil), buf[:n]...), end) || end {
			return
		}
	}
}

// feed runs one chunk through the filter; false when the stream is over.
func (s *Stream) feed(ctx context.Context, d *dir, chunk []byte, end bool) bool {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	if s.closed || d.done {
		return false
	}
	err := s.runData(ctx, d, chunk, end)
	s.h.runDeferred(ctx)
	if err != nil {
		s.h.cfg.Log.Error().Err(err).Str("direction", d.name()).Msg("proxy-wasm host: filter failed")
		s.failDir(d, err)
		return false
	}
	select {
	case s.progress <- struct{}{}:
	default:
	}
	return true
}

// abort is a source that broke off (a client or upstream reset): the
// stream is reset.
func (s *Stream) abort(d *dir, err error) {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	s.failDir(&s.req, err)
	s.failDir(&s.resp, err)
}

// waitRoom is flow control: the source is read on only while the reader
// keeps up and the filter's held-back body stays under the limit (where
// Envoy's watermarks stop reading). A filter that buffers (Pause in a body
// callback) is not waited for: it gets 413 past the limit, as in Envoy.
func (s *Stream) waitRoom(d *dir) bool {
	for {
		s.h.mu.Lock()
		over := s.closed || d.done
		full := d.out.size() > s.h.cfg.BufferLimit ||
			((d.stopAll || d.watermrk) && len(d.buffer) > s.h.cfg.BufferLimit)
		s.h.mu.Unlock()
		if over {
			return false
		}
		if !full {
			return true
		}
		select {
		case <-d.roomCh:
		case <-s.done:
			return false
		}
	}
}

// room notes that the direction's pipe drained or the filter let go of data.
func (d *dir) room() {
	select {
	case d.roomCh <- struct{}{}:
	default:
	}
}

func readAll(r io.Reader, limit int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err == nil && len(b) > limit {
		err = fmt.Errorf("proxy-wasm host: body over %d bytes", limit)
	}
	return b, err
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return n
}
