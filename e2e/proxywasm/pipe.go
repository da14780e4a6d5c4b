package proxywasm

import (
	"errors"
	"io"
	"sync"
)

// Message is one direction of a stream as the filter let it through: the
// request for the upstream, or the response for the client.
type Message struct {
	// Headers include the pseudo-headers (:method, :path, :authority,
	// :scheme, or :status).
	Headers [][2]string
	// ContentLength is the length to send: the content-length the filter
	// left, or the whole body's when the headers went on with all of it;
	// -1 when unknown (send chunked).
	ContentLength int64
	// Body reads the body as the filter releases it. It fails when the
	// stream was cut (a local response after the headers went, a reset).
	Body io.ReadCloser
}

// Header returns the first value of a header, or "".
func (m *Message) Header(name string) string { return value(m.Headers, name) }

func value(pairs [][2]string, name string) string {
	for _, p := range pairs {
		if p[0] == name {
			return p[1]
		}
	}
	return ""
}

var (
	// errLocalReply cuts a request that a local response answered.
	errLocalReply = errors.New("proxy-wasm host: the filter answered the request itself")
	// errReset cuts a response whose headers had gone when a local response came.
	errReset = errors.New("proxy-wasm host: stream reset")
	// errConsumerGone is what writers see once the reader closed.
	errConsumerGone = errors.New("proxy-wasm host: the reader closed the body")
)

// pipe carries what the filter releases in one direction to its reader.
// Writers hold the VM lock, so they never block; the reader blocks. The
// producer of the source keeps the queue bounded (see Stream.waitRoom).
type pipe struct {
	mu      sync.Mutex
	ready   chan struct{} // closed once the headers are set or the pipe failed
	isReady bool
	msg     Message
	chunks  [][]byte
	queued  int
	ended   bool
	err     error
	wake    chan struct{} // one pending wake-up for the reader
	drained func()        // run after a read, without locks: room for the producer
}

func newPipe(drained func()) *pipe {
	return &pipe{ready: make(chan struct{}), wake: make(chan struct{}, 1), drained: drained}
}

func (p *pipe) markReady() {
	if !p.isReady {
		p.isReady = true
		close(p.ready)
	}
}

func (p *pipe) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// setHeaders publishes the headers; the body follows through write.
func (p *pipe) setHeaders(headers [][2]string, length int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.isReady {
		return
	}
	p.msg = Message{Headers: headers, ContentLength: length, Body: &pipeReader{p}}
	p.markReady()
}

func (p *pipe) write(data []byte, end bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil || p.ended {
		return
	}
	if len(data) > 0 {
		p.chunks = append(p.chunks, data)
		p.queued += len(data)
	}
	p.ended = end
	p.signal()
}

// fail cuts the stream: a reader waiting for headers or data gets err.
func (p *pipe) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil || (p.ended && p.isReady) { // a finished direction stays finished
		return
	}
	p.err, p.chunks, p.queued = err, nil, 0
	p.markReady()
	p.signal()
}

// size is how many released bytes wait for the reader.
func (p *pipe) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.queued
}

// message returns the headers and body reader, or the error that cut the
// stream before its headers.
func (p *pipe) message() (*Message, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.msg.Body == nil {
		return nil, p.err
	}
	m := p.msg
	return &m, nil
}

type pipeReader struct{ p *pipe }

func (r *pipeReader) Read(b []byte) (int, error) {
	p := r.p
	for {
		p.mu.Lock()
		if len(p.chunks) > 0 {
			n := copy(b, p.chunks[0])
			if n == len(p.chunks[0]) {
				p.chunks[0] = nil
				p.chunks = p.chunks[1:]
			} else {
				p.chunks[0] = p.chunks[0][n:]
			}
			p.queued -= n
			p.mu.Unlock()
			p.drained()
			return n, nil
		}
		err := p.err
		if err == nil && p.ended {
			err = io.EOF
		}
		p.mu.Unlock()
		if err != nil {
			return 0, err
		}
		<-p.wake
	}
}

// Close drops what is queued and whatever comes later.
func (r *pipeReader) Close() error {
	r.p.fail(errConsumerGone)
	r.p.drained()
	return nil
}
