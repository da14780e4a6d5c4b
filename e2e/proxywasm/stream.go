package proxywasm

import (
	"context"
	"errors"
	"strings"
	"time"
)

// LocalResponse is what the filter answered instead of the upstream.
type LocalResponse struct {
	Status  int
	Headers [][2]string
	Body    []byte
}

// Request is one HTTP request as the filter sees it.
type Request struct {
	// Headers include the pseudo-headers :method, :path, :authority, :scheme.
	Headers     [][2]string
	Properties  map[string]string // keys are property paths joined with "."
	EndOfStream bool              // the request has no body
}

// Stream is one request and its response going through the filter, as
// Envoy's filter manager runs them: the request from Decode to Upstream,
// the response from Respond (or a local response) to Downstream.
type Stream struct {
	h          *Host
	id         uint32
	properties map[string][]byte
	req, resp  dir
	stopNext   bool          // a local response came during the running callback
	closed     bool          // Finish ran: the filter is not called any more
	progress   chan struct{} // one pending note that a source moved
	done       chan struct{} // closed by Finish
}

// Decode creates a stream, runs the filter on the request headers and
// feeds it body (nil when req.EndOfStream) in the background.
func (h *Host) Decode(ctx context.Context, req Request, body interface{ Read([]byte) (int, error) }) (*Stream, error) {
	s := &Stream{h: h, properties: map[string][]byte{}, progress: make(chan struct{}, 1), done: make(chan struct{})}
	s.req = dir{headers: lower(req.Headers), roomCh: make(chan struct{}, 1)}
	s.resp = dir{resp: true, roomCh: make(chan struct{}, 1)}
	s.req.out, s.resp.out = newPipe(s.req.room), newPipe(s.resp.room)
	for k, v := range req.Properties {
		s.properties[strings.ReplaceAll(k, ".", "\x00")] = []byte(v)
	}
	eos := req.EndOfStream || body == nil
	length := declaredLength(s.req.headers) // the source's, before the filter changes it
	h.mu.Lock()
	s.id = h.nextID
	h.nextID++
	h.streams[s.id] = s
	h.current = s.id
	_, err := h.call(ctx, "proxy_on_context_create", uint64(s.id), rootContextID)
	if err == nil {
		err = s.runHeaders(ctx, &s.req, eos)
		h.runDeferred(ctx)
	}
	h.mu.Unlock()
	if err != nil {
		s.Finish(ctx)
		return nil, err
	}
	if !eos {
		go s.pump(context.WithoutCancel(ctx), &s.req, body, length)
	}
	return s, nil
}

// OnRequestHeaders runs a request without a body through the filter. It
// returns the local response when the filter answered itself (the request
// did not reach the upstream), or nil when the request goes on.
func (h *Host) OnRequestHeaders(ctx context.Context, req Request) (*Stream, *LocalResponse, error) {
	req.EndOfStream = true
	s, err := h.Decode(ctx, req, nil)
	if err != nil {
		return nil, nil, err
	}
	up, err := s.Upstream(ctx)
	if err != nil || up != nil {
		if err != nil {
			s.Finish(ctx)
			return nil, nil, err
		}
		return s, nil, nil
	}
	local, err := s.localResponse(ctx)
	if err != nil {
		s.Finish(ctx)
		return nil, nil, err
	}
	return s, local, nil
}

func (s *Stream) localResponse(ctx context.Context) (*LocalResponse, error) {
	m, err := s.Downstream(ctx)
	if err != nil {
		return nil, err
	}
	defer m.Body.Close()
	body, err := readAll(m.Body, s.h.cfg.BufferLimit)
	if err != nil {
		return nil, err
	}
	l := &LocalResponse{Body: body}
	for _, p := range m.Headers {
		if p[0] == ":status" {
			l.Status = atoi(p[1])
		} else {
			l.Headers = append(l.Headers, p)
		}
	}
	return l, nil
}

// Headers are the request headers as the filter left them.
func (s *Stream) Headers() [][2]string {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	return s.req.headers
}

// SetProperty adds a property the filter can read from now on (the
// upstream connection's, once it is known).
func (s *Stream) SetProperty(path, value string) {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	s.properties[strings.ReplaceAll(path, ".", "\x00")] = []byte(value)
}

var errStalled = errors.New("proxy-wasm host: the filter held the stream and nothing moved for the stream timeout")

// Upstream waits until the filter lets the request's headers go on and
// returns the request as it goes to the upstream, its body still
// streaming; or nil when the filter answered itself (see Downstream).
func (s *Stream) Upstream(ctx context.Context) (*Message, error) {
	m, err := s.await(ctx, s.req.out)
	if errors.Is(err, errLocalReply) {
		return nil, nil
	}
	return m, err
}

// Respond runs the upstream's response through the filter: its headers
// (with :status), then body (nil when there is none) in the background. It
// does nothing when a local response already answered the client.
func (s *Stream) Respond(ctx context.Context, headers [][2]string, body interface{ Read([]byte) (int, error) }) error {
	s.h.mu.Lock()
	d := &s.resp
	if s.closed || d.started {
		s.h.mu.Unlock()
		return nil
	}
	d.headers = lower(headers)
	length := declaredLength(d.headers)
	err := s.runHeaders(ctx, d, body == nil)
	s.h.runDeferred(ctx)
	s.h.mu.Unlock()
	if err != nil {
		return err
	}
	if body != nil {
		go s.pump(context.WithoutCancel(ctx), d, body, length)
	}
	return nil
}

// Downstream waits for what the client gets: the response as the filter
// lets it through, or a local response.
func (s *Stream) Downstream(ctx context.Context) (*Message, error) {
	return s.await(ctx, s.resp.out)
}

// await waits for a pipe's headers. The stream timeout counts from the last
// time anything moved, so a large body that keeps coming never times out.
func (s *Stream) await(ctx context.Context, p *pipe) (*Message, error) {
	t := time.NewTimer(s.h.cfg.StreamTimeout)
	defer t.Stop()
	for {
		select {
		case <-p.ready:
			return p.message()
		case <-s.progress:
			t.Reset(s.h.cfg.StreamTimeout)
		case <-t.C:
			return nil, errStalled
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Finish ends the stream: log, done, delete, as Envoy does. Whatever is
// still flowing is cut.
func (s *Stream) Finish(ctx context.Context) {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	close(s.done)
	s.req.out.fail(errReset)
	s.resp.out.fail(errReset)
	h.current = s.id
	h.logPhase = true
	for _, fn := range []string{"proxy_on_log", "proxy_on_done", "proxy_on_delete"} {
		if _, err := h.call(ctx, fn, uint64(s.id)); err != nil {
			h.cfg.Log.Error().Err(err).Msg("proxy-wasm host: ending stream")
		}
	}
	h.logPhase = false
	h.after = nil
	delete(h.streams, s.id)
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
