package coordinator

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/meshward/meshward/extauthz/eaas/cryptor"
	"github.com/meshward/meshward/extauthz/eaas/keymanager"
	"github.com/meshward/meshward/extauthz/eaas/subscriber"
)

// downCrypto is a cryptor replica that is down: every call fails as
// unavailable, as a cut gRPC connection does.
type downCrypto struct{ calls atomic.Int64 }

func (d *downCrypto) fail() error {
	d.calls.Add(1)
	return &Unavailable{Err: errors.New("connection refused")}
}
func (d *downCrypto) Seal(context.Context, keymanager.Key, []byte, []byte) ([]byte, error) {
	return nil, d.fail()
}
func (d *downCrypto) Open(context.Context, keymanager.Key, []byte, []byte) ([]byte, error) {
	return nil, d.fail()
}
func (d *downCrypto) Rewrap(context.Context, keymanager.Key, []byte, []byte) ([]byte, error) {
	return nil, d.fail()
}

func rigWithCryptors(t *testing.T, sub subscriber.Subscriber, cryptors ...*Replica[Crypto]) *rig {
	r := newRig(t, sub)
	r.c.cfg.Cryptors = NewPool[Crypto]("cryptor", cryptors...)
	return r
}

func TestAFailedReplicaIsRetriedElsewhere(t *testing.T) {
	down := &downCrypto{}
	r := rigWithCryptors(t, fig3(), &Replica[Crypto]{Name: "down", Client: down},
		&Replica[Crypto]{Name: "up", Client: LocalCrypto{C: cryptor.New(8)}})
	a, b := r.enrol(t, idA), r.enrol(t, idB)
	for i := range 10 {
		env, err := a.encrypt(2, []byte("x"))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if _, err := b.decrypt(1, env); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	// The down replica rests after its failure instead of failing every call.
	if n := down.calls.Load(); n != 1 {
		t.Fatalf("the down replica was tried %d times in 20 requests, want 1 (then it rests)", n)
	}
}

func TestNoReplicaFailsClosedByDefault(t *testing.T) {
	r := rigWithCryptors(t, fig3(), &Replica[Crypto]{Name: "down", Client: &downCrypto{}})
	_, err := r.enrol(t, idA).encrypt(2, []byte("x"))
	if reason(err) != ReasonUnavailable {
		t.Fatalf("got %v, want %s", err, ReasonUnavailable)
	}
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindUnavailable {
		t.Fatalf("kind of %v", err)
	}
}

func TestNoReplicaForwardsPlaintextWhenTheSubscriberChoseIt(t *testing.T) {
	sub := fig3()
	sub.OnUnavailable = subscriber.ForwardPlain
	r := rigWithCryptors(t, sub, &Replica[Crypto]{Name: "down", Client: &downCrypto{}})
	q := r.enrol(t, idA)
	ans, err := r.c.Process(context.Background(), idA, q.encBatch(2, q.next(), []byte("x")))
	if err != nil || !ans.ForwardPlaintext || len(ans.Frames) != 0 {
		t.Fatalf("answer %+v, %v: want forward-plaintext", ans, err)
	}
}

// A ciphertext the cryptor refuses is the request's answer, not a replica
// failure: no other replica is tried and the subscriber's plaintext option
// does not apply.
func TestARefusalIsNotAnOutage(t *testing.T) {
	sub := fig3()
	sub.OnUnavailable = subscriber.ForwardPlain
	r := newRig(t, sub)
	a, b := r.enrol(t, idA), r.enrol(t, idB)
	env, err := a.encrypt(2, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	env[len(env)-1] ^= 1
	if _, err := b.decrypt(1, env); reason(err) != ReasonDecryptFailed {
		t.Fatalf("got %v", err)
	}
}

func TestPoolPrefersTheLeastLoaded(t *testing.T) {
	busy := &Replica[int]{Name: "busy", Client: 1}
	idle := &Replica[int]{Name: "idle", Client: 2}
	busy.inFlight.Store(5)
	p := NewPool[int]("x", busy, idle)
	for range 10 {
		var got int
		_ = p.Do(context.Background(), func(_ context.Context, c int) error { got = c; return nil })
		if got != 2 {
			t.Fatalf("picked replica %d, want the idle one", got)
		}
	}
}

// blockingCrypto waits for its caller to give up, then fails as a cut
// connection does.
type blockingCrypto struct {
	downCrypto
	entered chan struct{}
}

func (b *blockingCrypto) Seal(ctx context.Context, _ keymanager.Key, _, _ []byte) ([]byte, error) {
	b.entered <- struct{}{}
	<-ctx.Done()
	return nil, &Unavailable{Err: ctx.Err()}
}

// A requester that cancels its requests does not make the coordinator rest
// healthy replicas (nor count failures against them).
func TestACancelledCallerDoesNotRestReplicas(t *testing.T) {
	bc := &blockingCrypto{entered: make(chan struct{})}
	r := rigWithCryptors(t, fig3(), &Replica[Crypto]{Name: "slow", Client: bc})
	q := r.enrol(t, idA)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := r.c.Process(ctx, idA, q.encBatch(2, q.next(), []byte("x")))
		done <- err
	}()
	<-bc.entered
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a cancelled request succeeded")
	}
	for _, s := range r.c.Replicas() {
		if !s.Healthy || s.Failures != 0 {
			t.Fatalf("replica %s after a caller gave up: %+v", s.Name, s)
		}
	}
}
