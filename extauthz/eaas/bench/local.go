package bench

import (
	"context"
	"errors"
	"fmt"

	"github.com/meshward/meshward/api/eaas"
	"github.com/meshward/meshward/extauthz/eaas/coordinator"
	"github.com/meshward/meshward/extauthz/eaas/requester"
)

// local is a requester that hands its batches to the coordinator
// directly, as the HTTP endpoint does once it has read them: what the
// coordinator's own work costs, without the transport.
type local struct {
	id string
	c  *coordinator.Coordinator
	s  *requester.Session
}

func newLocal(c *coordinator.Coordinator, id string) (*local, error) {
	e, err := c.Enrol(id)
	if err != nil {
		return nil, err
	}
	return &local{id: id, c: c, s: requester.New(e)}, nil
}

// process splits a batch and has the coordinator serve it, as the
// endpoint does (same frame bound).
func (l *local) process(ctx context.Context, batch []byte) (coordinator.Answer, error) {
	frames, err := eaas.SplitFrames(batch, 1<<8, len(batch))
	if err != nil {
		return coordinator.Answer{}, err
	}
	return l.c.Process(ctx, l.id, frames)
}

// renew enrols again when the session's lease is used up.
func (l *local) batch(build func(*requester.Session) ([]byte, error)) ([]byte, error) {
	b, err := build(l.s)
	if !errors.Is(err, requester.ErrLeaseUsed) {
		return b, err
	}
	e, err := l.c.Enrol(l.id)
	if err != nil {
		return nil, err
	}
	l.s = requester.New(e)
	return build(l.s)
}

func (l *local) encrypt(ctx context.Context, pair uint32, data []byte) ([]byte, error) {
	b, err := l.batch(func(s *requester.Session) ([]byte, error) { return s.EncryptBatch(pair, data) })
	if err != nil {
		return nil, err
	}
	ans, err := l.process(ctx, b)
	if err != nil {
		return nil, err
	}
	return l.s.Envelope(join(ans.Frames))
}

// join is a batch of frames, as the endpoint writes an answer.
func join(frames []eaas.Frame) []byte {
	var b []byte
	for _, f := range frames {
		b = eaas.AppendFrame(b, f.Bits, f.NBits)
	}
	return b
}

// reasonOf is the coordinator's reason for refusing, or "".
func reasonOf(err error) string {
	var e *coordinator.Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// wantRefusal checks that err is the coordinator's refusal for reason.
func wantRefusal(err error, reason string) error {
	if got := reasonOf(err); got != reason {
		return fmt.Errorf("want refusal %s, got %v", reason, err)
	}
	return nil
}
