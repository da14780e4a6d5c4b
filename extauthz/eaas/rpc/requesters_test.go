package rpc

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/api/eaas"
	"github.com/meshward/meshward/extauthz/eaas/coordinator"
)

// verified is the TLS state of a connection whose client certificate,
// naming id, the handshake verified.
func verified(id string) *tls.ConnectionState {
	u, _ := url.Parse(id)
	c := &x509.Certificate{URIs: []*url.URL{u}}
	return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}, VerifiedChains: [][]*x509.Certificate{{c}}}
}

// trackedBody records whether it was read; it yields data, then err.
type trackedBody struct {
	data []byte
	err  error
	read bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	b.read = true
	if len(b.data) == 0 {
		return 0, b.err
	}
	n := copy(p, b.data)
	b.data = b.data[n:]
	return n, nil
}

type shedCount struct {
	mu sync.Mutex
	n  map[string]int
}

func (s *shedCount) add(bound string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n[bound]++
}

func (s *shedCount) get(bound string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[bound]
}

func newRequesters(w *world, cfg HTTPConfig) (*Requesters, *shedCount) {
	sc := &shedCount{n: map[string]int{}}
	cfg.Shed = sc.add
	return NewRequesters(w.c, cfg), sc
}

// post sends a batch to the handler as caller, declaring n bytes.
func post(q *Requesters, caller string, body io.Reader, n int64) *httptest.ResponseRecorder {
	return postCtx(context.Background(), q, caller, body, n)
}

func postCtx(ctx context.Context, q *Requesters, caller string, body io.Reader, n int64) *httptest.ResponseRecorder {
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, eaas.MessagesPath, body)
	r.ContentLength = n
	if caller != "" {
		r.TLS = verified(caller)
	}
	w := httptest.NewRecorder()
	q.messages(w, r)
	return w
}

func (q *Requesters) held() (int64, int) {
	q.budget.mu.Lock()
	defer q.budget.mu.Unlock()
	return q.budget.used, len(q.budget.byCaller)
}

func reasonOf(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	if w.Code == http.StatusOK {
		return "ok"
	}
	a, err := eaas.DecodeErrorAnswer(w.Body.Bytes())
	if err != nil {
		t.Fatalf("error answer %q: %v", w.Body.String(), err)
	}
	return a.Reason
}

// Every path gives every byte back to the budget: served, refused,
// malformed, cut, cancelled, too large, or from no member; and what should
// not be read is not.
func TestBudgetComesBackOnEveryPath(t *testing.T) {
	w := newWorld(t)
	q, _ := newRequesters(w, HTTPConfig{})
	seq := enrolled(t, w, idA)
	good := encryptBatch(t, 1, seq, []byte("hello"))
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name     string
		ctx      context.Context
		caller   string
		body     *trackedBody
		declared int64
		status   int
		reason   string
		unread   bool
	}{
		{"served", nil, idA, &trackedBody{data: good, err: io.EOF}, int64(len(good)), 200, "ok", false},
		{"a replay of it", nil, idA, &trackedBody{data: good, err: io.EOF}, int64(len(good)), 409, coordinator.ReasonStale, false},
		{"no member", nil, idOutsider, &trackedBody{data: good, err: io.EOF}, int64(len(good)), 403, coordinator.ReasonNotMember, true},
		{"no certificate", nil, "", &trackedBody{data: good, err: io.EOF}, int64(len(good)), 401, "eaas-unauthenticated", true},
		{"no length (chunked)", nil, idA, &trackedBody{data: good, err: io.EOF}, -1, 411, coordinator.ReasonMalformed, true},
		{"a huge declared length", nil, idA, &trackedBody{err: io.EOF}, 1 << 40, 413, coordinator.ReasonTooLarge, true},
		{"longer than the subscriber's bound", nil, idA, &trackedBody{err: io.EOF}, 40 << 20, 413, coordinator.ReasonTooLarge, true},
		{"cut short", nil, idA, &trackedBody{data: good[:10], err: io.ErrUnexpectedEOF}, int64(len(good)), 400, coordinator.ReasonMalformed, false},
		{"shorter than declared", nil, idA, &trackedBody{data: good[:10], err: io.EOF}, int64(len(good)), 400, coordinator.ReasonMalformed, false},
		{"a read error", nil, idA, &trackedBody{err: errors.New("connection reset")}, 100, 400, coordinator.ReasonMalformed, false},
		{"empty", nil, idA, &trackedBody{err: io.EOF}, 0, 400, coordinator.ReasonMalformed, false},
		{"not frames", nil, idA, &trackedBody{data: bytes.Repeat([]byte{0xff}, 64), err: io.EOF}, 64, 400, coordinator.ReasonMalformed, false},
		{"cancelled by its caller", cancelled, idA, &trackedBody{data: encryptBatch(t, 1, seq+1, []byte("x")), err: io.EOF}, -2, 0, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q.penalties = newPenalties(time.Minute, 16) // each case on its own: the penalty has its test
			n := tc.declared
			if n == -2 {
				n = int64(len(tc.body.data))
			}
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			rec := postCtx(ctx, q, tc.caller, tc.body, n)
			if tc.status != 0 && (rec.Code != tc.status || reasonOf(t, rec) != tc.reason) {
				t.Fatalf("%d %s, want %d %s", rec.Code, rec.Body.String(), tc.status, tc.reason)
			}
			if tc.unread && tc.body.read {
				t.Fatal("the body was read")
			}
			if used, callers := q.held(); used != 0 || callers != 0 {
				t.Fatalf("%d bytes of %d callers still held", used, callers)
			}
		})
	}
}

// blockedBody holds its reader until cut; it says when it was first read,
// which is after the budget was taken.
type blockedBody struct {
	started chan struct{}
	cut     chan struct{}
	once    sync.Once
}

func newBlocked() *blockedBody {
	return &blockedBody{started: make(chan struct{}), cut: make(chan struct{})}
}

func (b *blockedBody) Read([]byte) (int, error) {
	b.once.Do(func() { close(b.started) })
	<-b.cut
	return 0, io.ErrUnexpectedEOF
}

// Many large bodies at once from one caller: its share is shed, other
// callers still get theirs until the total is full, and everything comes
// back when the bodies are cut.
func TestConcurrentLargeBodiesAreShed(t *testing.T) {
	w := newWorld(t)
	q, shed := newRequesters(w, HTTPConfig{MaxBytesPerCaller: 1 << 20, MaxBytesInFlight: 3 << 19})
	const size = 400 << 10
	var wg sync.WaitGroup
	var blocked []*blockedBody
	hold := func(caller string) {
		b := newBlocked()
		blocked = append(blocked, b)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if rec := post(q, caller, b, size); rec.Code != http.StatusBadRequest {
				t.Errorf("a cut body: %d", rec.Code)
			}
		}()
		<-b.started
	}
	hold(idA)
	hold(idA)
	if rec := post(q, idA, newBlocked(), size); rec.Code != http.StatusServiceUnavailable || shed.get("caller") != 1 {
		t.Fatalf("a's third body: %d %s", rec.Code, rec.Body.String())
	}
	hold(idB)
	if rec := post(q, idC, newBlocked(), size); rec.Code != http.StatusServiceUnavailable || shed.get("total") != 1 {
		t.Fatalf("a body beyond the total: %d %s", rec.Code, rec.Body.String())
	}
	if used, _ := q.held(); used != 3*size {
		t.Fatalf("%d bytes held, want %d", used, 3*size)
	}
	for _, b := range blocked {
		close(b.cut)
	}
	wg.Wait()
	if used, callers := q.held(); used != 0 || callers != 0 {
		t.Fatalf("%d bytes of %d callers still held", used, callers)
	}
}

// A decryption is answered by 2^t frames of its plaintext's size: the
// answer is reserved with the request, so a caller cannot make the
// coordinator hold 2^t times its share. A shed decryption burns nothing:
// the same envelope opens when there is room.
func TestDecryptionAnswersAreReserved(t *testing.T) {
	w := newWorld(t)
	plain := bytes.Repeat([]byte("p"), 10<<10)
	env := encryptHTTP(t, w, plain)
	batch := decryptBatch(t, 2, enrolled(t, w, idB), env)
	small, shed := newRequesters(w, HTTPConfig{MaxBytesPerCaller: 3 * int64(len(batch))})
	rec := post(small, idB, bytes.NewReader(batch), int64(len(batch)))
	if rec.Code != http.StatusServiceUnavailable || shed.get("caller") != 1 {
		t.Fatalf("a decryption whose answer exceeds the share: %d %s", rec.Code, rec.Body.String())
	}
	if used, _ := small.held(); used != 0 {
		t.Fatalf("%d bytes held", used)
	}
	big, _ := newRequesters(w, HTTPConfig{})
	rec = post(big, idB, bytes.NewReader(batch), int64(len(batch)))
	if rec.Code != http.StatusOK {
		t.Fatalf("with room: %d %s", rec.Code, rec.Body.String())
	}
	frames, err := eaas.SplitFrames(rec.Body.Bytes(), 8, 1<<20)
	if err != nil || len(frames) != 4 || rec.Header().Get("Content-Length") != strconv.Itoa(rec.Body.Len()) {
		t.Fatalf("answer: %d frames, %v, length %s of %d", len(frames), err, rec.Header().Get("Content-Length"), rec.Body.Len())
	}
}

// encryptHTTP has a encrypt plain for b through the handler; it returns
// the envelope.
func encryptHTTP(t *testing.T, w *world, plain []byte) []byte {
	t.Helper()
	q, _ := newRequesters(w, HTTPConfig{})
	batch := encryptBatch(t, 1, enrolled(t, w, idA), plain)
	rec := post(q, idA, bytes.NewReader(batch), int64(len(batch)))
	if rec.Code != http.StatusOK {
		t.Fatalf("encrypt: %d %s", rec.Code, rec.Body.String())
	}
	frames, err := eaas.SplitFrames(rec.Body.Bytes(), 1, 1<<20)
	if err != nil || len(frames) != 1 {
		t.Fatalf("encrypt answer: %v", err)
	}
	m, err := eaas.Decode(shop().Widths, true, frames[0].Bits, frames[0].NBits)
	if err != nil {
		t.Fatal(err)
	}
	return m.Data
}

func decryptBatch(t testing.TB, to uint32, seq uint64, env []byte) []byte {
	t.Helper()
	e, err := eaas.ParseEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	bits, n, err := eaas.Encode(shop().Widths, eaas.Message{Subscriber: subscriberID, Requester: to, Seq: seq,
		Type: eaas.Decrypt, Pair: e.Src, Data: env, DataBits: 8 * len(env)}, false)
	if err != nil {
		t.Fatal(err)
	}
	return eaas.AppendFrame(nil, bits, n)
}

// Over real mutual TLS on 127.0.0.1: no certificate, chunked bodies, a
// workload of no subscriber declaring a body it never sends (answered at
// once, not after the read deadline), and a member's enrolment.
func TestRequesterEndpointsOverTLS(t *testing.T) {
	w := newWorld(t)
	q, _ := newRequesters(w, HTTPConfig{ReadTimeout: time.Minute})
	mux := http.NewServeMux()
	q.Register(mux)
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = w.serverTLS(t)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	client := func(id string) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: w.clientTLS(t, id)}}
	}
	get := func(id string) *http.Response {
		resp, err := client(id).Get(srv.URL + eaas.EnrolmentPath)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = resp.Body.Close() })
		return resp
	}
	postTLS := func(id string, body io.Reader, n int64) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+eaas.MessagesPath, body)
		req.ContentLength = n
		resp, err := client(id).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = resp.Body.Close() })
		return resp
	}
	if r := get(""); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("enrolment without a certificate: %d", r.StatusCode)
	}
	if r := get(idOutsider); r.StatusCode != http.StatusForbidden {
		t.Fatalf("enrolment of no member: %d", r.StatusCode)
	}
	r := get(idA)
	body, _ := io.ReadAll(r.Body)
	e, err := eaas.DecodeEnrolment(body)
	if r.StatusCode != http.StatusOK || err != nil || e.Requester != 1 || e.Subscriber != subscriberID {
		t.Fatalf("a's enrolment: %d %v %+v", r.StatusCode, err, e)
	}
	batch := encryptBatch(t, 1, e.Seq.Start, []byte("x"))
	if r := postTLS("", bytes.NewReader(batch), int64(len(batch))); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("frames without a certificate: %d", r.StatusCode)
	}
	if r := postTLS(idA, io.NopCloser(bytes.NewReader(batch)), -1); r.StatusCode != http.StatusLengthRequired {
		t.Fatalf("chunked frames: %d", r.StatusCode)
	}
	pr, pw := io.Pipe()
	t.Cleanup(func() { _ = pw.Close() })
	if r := postTLS(idOutsider, pr, 1<<20); r.StatusCode != http.StatusForbidden {
		t.Fatalf("no member declaring 1 MiB it never sends: %d", r.StatusCode)
	}
	if r := postTLS(idB, bytes.NewReader(batch), int64(len(batch))); r.StatusCode != http.StatusForbidden {
		t.Fatalf("b sends frames in a's name: %d", r.StatusCode)
	}
	if r := postTLS(idA, bytes.NewReader(batch), int64(len(batch))); r.StatusCode != http.StatusOK ||
		r.Header.Get("Content-Type") != eaas.ContentType {
		t.Fatalf("a's frames: %d", r.StatusCode)
	}
}

// Nothing secret reaches the logs or the error answers: no plaintext, no
// ciphertext, no key material (raw, hex or base64), no token.
func TestNothingSecretIsLoggedOrAnswered(t *testing.T) {
	w := newWorld(t)
	var logs bytes.Buffer
	q, _ := newRequesters(w, HTTPConfig{Log: zerolog.New(&logs)})
	plain := []byte("PLAINTEXT-the-password-is-hunter2")
	env := encryptHTTP(t, w, plain)
	var answers bytes.Buffer
	send := func(caller string, batch []byte) {
		rec := post(q, caller, bytes.NewReader(batch), int64(len(batch)))
		if rec.Code != http.StatusOK {
			answers.Write(rec.Body.Bytes())
		}
	}
	tampered := bytes.Clone(env)
	tampered[len(tampered)-1] ^= 1
	seqB, seqC := enrolled(t, w, idB), enrolled(t, w, idC)
	send(idB, decryptBatch(t, 2, seqB, tampered))
	send(idC, decryptBatch(t, 3, seqC, env))
	send(idB, decryptBatch(t, 2, seqB+1, env))
	send(idB, decryptBatch(t, 2, seqB+2, env)) // replay
	send(idOutsider, decryptBatch(t, 2, seqB+3, env))
	wrong := encryptBatch(t, 1, enrolled(t, w, idA), plain)
	frames, _ := eaas.SplitFrames(wrong, 8, 1<<20)
	send(idA, eaas.AppendFrame(eaas.AppendFrame(nil, frames[0].Bits, frames[0].NBits), frames[0].Bits, frames[0].NBits))
	send(idA, []byte{0x80})
	e, _ := eaas.ParseEnvelope(env)
	key, err := w.keys.Key(context.Background(), pairOf(pairProto(keyPair(e))), "aes256-gcm")
	if err != nil {
		t.Fatal(err)
	}
	if logs.Len() == 0 || answers.Len() == 0 {
		t.Fatal("nothing was logged or refused: the test tests nothing")
	}
	for what, text := range map[string]string{"log": logs.String(), "answers": answers.String()} {
		for name, secret := range map[string][]byte{"plaintext": plain, "ciphertext": e.Ciphertext, "key material": key.Material} {
			for _, form := range encodings(secret) {
				if strings.Contains(text, form) {
					t.Fatalf("the %s holds the %s", what, name)
				}
			}
		}
		if strings.Contains(strings.ToLower(text), "token\":") || strings.Contains(strings.ToLower(text), "token=") {
			t.Fatalf("the %s holds a token field: %s", what, text)
		}
	}
}
