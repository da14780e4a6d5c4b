package filter

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"testing"

	"github.com/meshward/meshward/api/eaas"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
)

// Members of the test subscriber: the frontend (requester 1) calls orders
// (requester 2); catalog (3) is a member too.
const (
	frontendCert = "spiffe://cluster.local/ns/shop/sa/frontend"
	ordersCert   = "spiffe://cluster.local/ns/shop/sa/orders"
	catalogCert  = "spiffe://cluster.local/ns/shop/sa/catalog"
	ordersHost   = "orders.shop.svc.cluster.local"
)

var members = []eaas.Peer{
	{Requester: 1, Principal: "cluster.local/ns/shop/sa/frontend", Hosts: []string{"frontend.shop.svc.cluster.local", "frontend"}},
	{Requester: 2, Principal: "cluster.local/ns/shop/sa/orders", Hosts: []string{ordersHost, "orders"}},
	{Requester: 3, Principal: "cluster.local/ns/shop/sa/catalog", Hosts: []string{"catalog"}},
}

// coordinator is a test stand-in for the lead's coordinator: it enrols,
// checks frames, and seals and opens envelopes with AES-GCM under the
// envelope header as associated data, as the real one does with Tink.
type coordinator struct {
	t     *testing.T
	token uint8
	seq   uint64
	key   cipher.AEAD
	lease uint64
}

func newCoordinator(t *testing.T) *coordinator {
	key := make([]byte, 32)
	rand.Read(key)
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	return &coordinator{t: t, token: 1, seq: 9, key: aead, lease: 1024}
}

var widths = eaas.Widths{S: 8, R: 5, N: 12, T: 2}

func (c *coordinator) enrolment(requester uint32) eaas.Enrolment {
	if c.seq+c.lease > 1<<widths.N {
		c.seq = 0
	}
	var peers []eaas.Peer
	for _, p := range members {
		if p.Requester != requester {
			peers = append(peers, p)
		}
	}
	e := eaas.Enrolment{Version: 1, Coordinator: "coordinator-0", Subscriber: 54, Requester: requester, Widths: widths,
		Token: c.token, Seq: eaas.SeqLease{Start: c.seq, Count: c.lease}, Cipher: eaas.AES256GCM, MaxBodyBytes: 8 << 20, Peers: peers}
	c.seq += c.lease
	return e
}

func (c *coordinator) enrolBody(requester uint32) []byte {
	b, err := json.Marshal(c.enrolment(requester))
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

func (c *coordinator) seal(src, dst uint32, seq uint64, token uint8, plain []byte) []byte {
	e := eaas.Envelope{Subscriber: 54, Src: src, Dst: dst, Seq: seq, Token: token, Cipher: eaas.AES256GCM}
	nonce := make([]byte, c.key.NonceSize())
	rand.Read(nonce)
	e.Ciphertext = c.key.Seal(nonce, nonce, plain, e.Header())
	return e.Marshal()
}

func (c *coordinator) open(b []byte) (eaas.Envelope, []byte) {
	e, err := eaas.ParseEnvelope(b)
	if err != nil {
		c.t.Fatalf("coordinator: %v", err)
	}
	n := c.key.NonceSize()
	plain, err := c.key.Open(nil, e.Ciphertext[:n], e.Ciphertext[n:], e.Header())
	if err != nil {
		c.t.Fatalf("coordinator: open: %v", err)
	}
	return e, plain
}

// frames decodes a request batch, checking what every frame must say.
func (c *coordinator) frames(batch []byte, want int) []eaas.Message {
	c.t.Helper()
	fs, err := eaas.SplitFrames(batch, 256, 64<<20)
	if err != nil || len(fs) != want {
		c.t.Fatalf("coordinator: %d frames (%v), want %d", len(fs), err, want)
	}
	var ms []eaas.Message
	for _, f := range fs {
		m, err := eaas.Decode(widths, false, f.Bits, f.NBits)
		if err != nil {
			c.t.Fatalf("coordinator: %v", err)
		}
		ms = append(ms, m)
	}
	return ms
}

// encryptAnswer seals the real frame of an encryption request.
func (c *coordinator) encryptAnswer(batch []byte) []byte {
	c.t.Helper()
	var real *eaas.Message
	ms := c.frames(batch, 4)
	for i := range ms {
		if ms[i].Type != eaas.Encrypt || ms[i].Seq != ms[0].Seq || ms[i].Pair != ms[0].Pair || ms[i].DataBits != ms[0].DataBits {
			c.t.Fatalf("coordinator: frames of one request differ: %+v", ms[i])
		}
		if ms[i].Token == c.token {
			real = &ms[i]
		}
	}
	env := c.seal(real.Requester, real.Pair, real.Seq, c.token, real.Data)
	return c.answerFrames(eaas.Message{Subscriber: 54, Requester: real.Requester, Seq: real.Seq, Pair: real.Pair,
		Data: env, DataBits: 8 * len(env)})
}

// decryptAnswer opens the envelope of a decryption request and answers with
// 2^t frames, the real one with the token.
func (c *coordinator) decryptAnswer(batch []byte) []byte {
	c.t.Helper()
	m := c.frames(batch, 1)[0]
	env, plain := c.open(m.Data)
	if m.Type != eaas.Decrypt || env.Dst != m.Requester || env.Src != m.Pair {
		c.t.Fatalf("coordinator: decryption request %+v for envelope %+v", m, env)
	}
	var out []eaas.Message
	for tok := uint8(0); tok < 4; tok++ {
		data := plain
		if tok != c.token {
			data = make([]byte, len(plain))
			rand.Read(data)
		}
		out = append(out, eaas.Message{Subscriber: 54, Requester: m.Requester, Seq: m.Seq, Type: eaas.Decrypt, Pair: m.Pair,
			Token: tok, Data: data, DataBits: 8 * len(data)})
	}
	out[0], out[3] = out[3], out[0]
	return c.answerFrames(out...)
}

func (c *coordinator) answerFrames(ms ...eaas.Message) []byte {
	var b []byte
	for _, m := range ms {
		bits, n, err := eaas.Encode(widths, m, true)
		if err != nil {
			c.t.Fatal(err)
		}
		b = eaas.AppendFrame(b, bits, n)
	}
	return b
}

// lastCallout is the stream's newest callout to path.
func lastCallout(t *testing.T, host proxytest.HostEmulator, id uint32, path string) proxytest.HttpCalloutAttribute {
	t.Helper()
	cs := host.GetCalloutAttributesFromContext(id)
	if len(cs) == 0 || headerValue(cs[len(cs)-1].Headers, ":path") != path {
		t.Fatalf("no callout to %s (callouts %d)", path, len(cs))
	}
	return cs[len(cs)-1]
}

func calloutsTo(host proxytest.HostEmulator, id uint32, path string) int {
	n := 0
	for _, c := range host.GetCalloutAttributesFromContext(id) {
		if headerValue(c.Headers, ":path") == path {
			n++
		}
	}
	return n
}

// sealAnswer seals reply as the destination's answer to the request
// envelope req, bound to it as the filter binds it.
func (c *coordinator) sealAnswer(req, reply []byte) []byte {
	e, err := eaas.ParseEnvelope(req)
	if err != nil {
		c.t.Fatalf("coordinator: %v", err)
	}
	return c.seal(e.Dst, e.Src, 500, c.token, bindResponse(e.Seq, reply))
}

// openAnswer opens a response envelope and checks that it answers the
// request envelope req.
func (c *coordinator) openAnswer(b, req []byte) (eaas.Envelope, []byte) {
	e, plain := c.open(b)
	r, err := eaas.ParseEnvelope(req)
	if err != nil {
		c.t.Fatalf("coordinator: %v", err)
	}
	body, err := unbindResponse(r.Seq, plain)
	if err != nil {
		c.t.Fatalf("coordinator: %v", err)
	}
	return e, body
}
