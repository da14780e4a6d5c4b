package rpc

import (
	"io"
	"testing"
	"time"

	"github.com/meshward/meshward/api/eaas"
	"github.com/meshward/meshward/extauthz/eaas/coordinator"
)

// A member that floods fakes (a batch whose frames all carry wrong tokens,
// as no filter sends) has its next batches refused before a byte of them
// is read, until its penalty runs out; other members are not touched.
func TestAFloodingMemberIsRefusedUnread(t *testing.T) {
	w := newWorld(t)
	q, _ := newRequesters(w, HTTPConfig{})
	clock := time.Unix(1e9, 0)
	q.penalties.now = func() time.Time { return clock }
	seqA, seqB := enrolled(t, w, idA), enrolled(t, w, idB)
	fakes := fakeOnly(t, 1, seqA)
	if rec := postCtx(t.Context(), q, idA, &trackedBody{data: fakes, err: io.EOF}, int64(len(fakes))); rec.Code != 403 ||
		reasonOf(t, rec) != coordinator.ReasonNoRealMessage {
		t.Fatalf("the fakes: %d %s", rec.Code, rec.Body.String())
	}
	good := encryptBatch(t, 1, seqA+1, []byte("real"))
	body := &trackedBody{data: good, err: io.EOF}
	rec := postCtx(t.Context(), q, idA, body, int64(len(good)))
	if rec.Code != 429 || reasonOf(t, rec) != ReasonPenalized || body.read {
		t.Fatalf("the next batch: %d %s (read %v), want 429 %s unread", rec.Code, rec.Body.String(), body.read, ReasonPenalized)
	}
	other := encryptBatch(t, 2, seqB, []byte("b is fine"))
	if rec := postCtx(t.Context(), q, idB, &trackedBody{data: other, err: io.EOF}, int64(len(other))); rec.Code != 200 {
		t.Fatalf("another member: %d %s", rec.Code, rec.Body.String())
	}
	clock = clock.Add(q.cfg.PenaltyFor + time.Second)
	if rec := postCtx(t.Context(), q, idA, &trackedBody{data: good, err: io.EOF}, int64(len(good))); rec.Code != 200 {
		t.Fatalf("after the penalty: %d %s", rec.Code, rec.Body.String())
	}
}

// fakeOnly is 2^t frames of which none carries the token: the real one's
// token is moved onto a fake's value, so two frames share one wrong token.
func fakeOnly(t *testing.T, from uint32, seq uint64) []byte {
	t.Helper()
	s := shop()
	var out []byte
	for tok := range s.Messages() {
		wrong := uint8(tok)
		if wrong == s.Token {
			wrong = (s.Token + 1) % uint8(s.Messages())
		}
		bits, n, err := eaas.Encode(s.Widths, eaas.Message{Subscriber: s.ID, Requester: from, Seq: seq, Type: eaas.Encrypt,
			Pair: from%3 + 1, Token: wrong, Data: []byte("fake"), DataBits: 32}, false)
		if err != nil {
			t.Fatal(err)
		}
		out = eaas.AppendFrame(out, bits, n)
	}
	return out
}

// The penalty table stays bounded whoever is penalized.
func TestPenaltiesAreBounded(t *testing.T) {
	p := newPenalties(time.Minute, 8)
	for i := range 100 {
		p.add(string(rune('a' + i)))
	}
	if len(p.until) > 8 {
		t.Fatalf("%d penalties held, at most 8", len(p.until))
	}
}
