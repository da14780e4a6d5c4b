package rpc

import (
	"context"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meshward/meshward/api/eaas"
	eaasv1 "github.com/meshward/meshward/api/eaas/v1"
	"github.com/meshward/meshward/extauthz/eaas/keymanager"
)

// A caller the rules refuse sends a 32 MiB message: it is refused from
// its headers, and the server reads a small part of it (the stream's flow
// control window), not the message. With the interceptor alone, gRPC read
// the whole message first: any workload with a mesh certificate, or none,
// could make the server hold its largest message on every stream.
func TestRefusedBeforeTheMessageIsRead(t *testing.T) {
	w := newWorld(t)
	big := &eaasv1.CryptRequest{Data: make([]byte, 32<<20)}
	for _, id := range []string{"", idA, idOutsider} {
		addr, read := w.grpcServer(t, testAccess().ServerOptions()...)
		err := w.dial(t, addr, id).Invoke(context.Background(), eaasv1.Cryptor_Seal_FullMethodName, big, &eaasv1.CryptResponse{})
		if c := status.Code(err); c != codes.PermissionDenied && c != codes.Unauthenticated {
			t.Fatalf("caller %q: %v", id, err)
		}
		if n := read.Load(); n > 4<<20 {
			t.Fatalf("caller %q: the server read %d bytes of a refused 32 MiB call", id, n)
		}
	}
}

// blockingKeys holds every key request until released: calls stay open.
type blockingKeys struct {
	entered chan struct{}
	release chan struct{}
	m       *keymanager.Manager
}

func (b *blockingKeys) Key(ctx context.Context, p keymanager.PairID, c keymanager.Cipher) (keymanager.Key, error) {
	b.entered <- struct{}{}
	<-b.release
	return b.m.Key(ctx, p, c)
}

func (b *blockingKeys) Lookup(ctx context.Context, p keymanager.PairID, c keymanager.Cipher) (keymanager.Key, error) {
	b.entered <- struct{}{}
	<-b.release
	return b.m.Lookup(ctx, p, c)
}

// One identity may keep MaxMemberCalls calls open on Coordinator.Process;
// the next is refused before its message is read, others still get theirs,
// and every slot comes back when its call ends.
func TestMemberCallsAreBoundedPerCaller(t *testing.T) {
	bk := &blockingKeys{entered: make(chan struct{}), release: make(chan struct{})}
	w := newWorld(t, bk)
	bk.m = w.keys
	lim := newCallLimit(2, 3)
	freed := make(chan struct{}, 16)
	lim.released = func() { freed <- struct{}{} }
	a := testAccess()
	addr, _ := w.grpcServer(t, grpc.InTapHandle(a.tap(lim)), grpc.ChainUnaryInterceptor(a.Interceptor()))
	ca, cb, cc := w.dial(t, addr, idA), w.dial(t, addr, idB), w.dial(t, addr, idC)
	seqA, seqB, seqC := enrolled(t, w, idA), enrolled(t, w, idB), enrolled(t, w, idC)
	process := func(conn *grpc.ClientConn, from uint32, seq uint64) error {
		batch := encryptBatch(t, from, seq, []byte("x"))
		return conn.Invoke(context.Background(), eaasv1.Coordinator_Process_FullMethodName, &eaasv1.Frames{Batch: batch}, &eaasv1.Frames{})
	}
	var wg sync.WaitGroup
	open := func(conn *grpc.ClientConn, from uint32, seq uint64) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := process(conn, from, seq); err != nil {
				t.Errorf("an open call failed: %v", err)
			}
		}()
		<-bk.entered
	}
	open(ca, 1, seqA)
	open(ca, 1, seqA+1)
	if err := process(ca, 1, seqA+2); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a's third open call: %v", err)
	}
	open(cb, 2, seqB)
	if err := process(cc, 3, seqC); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a call beyond the total: %v", err)
	}
	close(bk.release)
	wg.Wait()
	for range 3 {
		<-freed
	}
	go func() {
		for range bk.entered {
		}
	}()
	if err := process(ca, 1, seqA+3); err != nil {
		t.Fatalf("after the calls ended: %v", err)
	}
}

func enrolled(t *testing.T, w *world, id string) uint64 {
	t.Helper()
	e, err := w.c.Enrol(id)
	if err != nil {
		t.Fatal(err)
	}
	return e.Seq.Start
}

// encryptBatch is what a filter sends to encrypt data for its next member.
func encryptBatch(t testing.TB, from uint32, seq uint64, data []byte) []byte {
	t.Helper()
	s := shop()
	to := from%3 + 1
	var out []byte
	for tok := range s.Messages() {
		d := data
		if uint8(tok) != s.Token {
			d = make([]byte, len(data))
		}
		bits, n, err := eaas.Encode(s.Widths, eaas.Message{Subscriber: s.ID, Requester: from, Seq: seq, Type: eaas.Encrypt,
			Pair: to, Token: uint8(tok), Data: d, DataBits: 8 * len(d)}, false)
		if err != nil {
			t.Fatal(err)
		}
		out = eaas.AppendFrame(out, bits, n)
	}
	return out
}
