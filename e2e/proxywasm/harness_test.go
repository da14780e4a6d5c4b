package proxywasm_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/e2e/proxywasm"
	"github.com/meshward/meshward/e2e/proxywasm/testguest"
)

// guestHost runs the test guest. Its "svc" cluster answers /resume at once,
// or when release is closed if the test gives one, and /seal with
// "sealed(" + body + ")".
func guestHost(t *testing.T, allow bool, limit int, release chan struct{}) *proxywasm.Host {
	t.Helper()
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/resume" && release != nil {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		if r.URL.Path == "/seal" {
			_, _ = w.Write(append(append([]byte("sealed("), b...), ')'))
		}
	}))
	t.Cleanup(svc.Close)
	h, err := proxywasm.New(context.Background(), proxywasm.Config{WasmPath: testguest.Build(t),
		Clusters: map[string]string{"svc": svc.URL}, BufferLimit: limit,
		AllowOnHeadersStopIteration: allow, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

// chunky hands out at most 10 KiB per read, so a body takes several body
// callbacks; onEOF (if set) runs once the body is all read.
type chunky struct {
	r     *bytes.Reader
	onEOF func()
}

func (c *chunky) Read(b []byte) (int, error) {
	n, err := c.r.Read(b[:min(len(b), 10<<10)])
	if c.r.Len() == 0 && c.onEOF != nil {
		c.onEOF()
		c.onEOF = nil
	}
	return n, err
}

func request(flags string, body []byte) proxywasm.Request {
	return proxywasm.Request{Headers: [][2]string{{":method", "POST"}, {":path", "/"}, {":authority", "app"},
		{":scheme", "http"}, {"x-test", flags}, {"content-length", strconv.Itoa(len(body))}}}
}

// exchange is one request through the guest: what the upstream got (nil
// when nothing reached it) and what the client got.
type exchange struct {
	up       *proxywasm.Message
	upBody   []byte
	upErr    error // reading the upstream body
	down     *proxywasm.Message
	downBody []byte
	downErr  error
}

// run sends body with flags; when the request reaches the upstream, it
// answers respHeaders and respBody.
func run(t *testing.T, h *proxywasm.Host, flags string, body io.Reader, n int, respHeaders [][2]string, respBody []byte) exchange {
	t.Helper()
	ctx := context.Background()
	st, err := h.Decode(ctx, request(flags, make([]byte, n)), body)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Finish(ctx)
	var x exchange
	if x.up, err = st.Upstream(ctx); err != nil {
		t.Fatalf("Upstream: %v", err)
	}
	if x.up != nil {
		x.upBody, x.upErr = io.ReadAll(x.up.Body)
		var rb io.Reader
		if respBody != nil {
			rb = &chunky{r: bytes.NewReader(respBody)}
		}
		if err := st.Respond(ctx, respHeaders, rb); err != nil {
			t.Fatal(err)
		}
	}
	if x.down, err = st.Downstream(ctx); err != nil {
		t.Fatalf("Downstream: %v", err)
	}
	x.downBody, x.downErr = io.ReadAll(x.down.Body)
	return x
}

func ok200(n int) [][2]string {
	return [][2]string{{":status", "200"}, {"content-length", strconv.Itoa(n)}}
}

// growing is the trace of body callbacks that each see everything
// buffered so far: prefix B10240:0 ... B<n>:1, each followed by suffix.
func growing(prefix string, n int, suffix string) string {
	var parts []string
	for seen := 10 << 10; ; seen += 10 << 10 {
		if seen >= n {
			return strings.Join(append(parts, prefix+strconv.Itoa(n)+":1"+suffix), " ")
		}
		parts = append(parts, prefix+strconv.Itoa(seen)+":0"+suffix)
	}
}
