package sidecar

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/e2e/proxywasm"
	"github.com/meshward/meshward/e2e/proxywasm/testguest"
	"github.com/meshward/meshward/internal/identity"
)

func guest(t *testing.T, allow bool) *proxywasm.Host {
	t.Helper()
	h, err := proxywasm.New(context.Background(), proxywasm.Config{WasmPath: testguest.Build(t),
		AllowOnHeadersStopIteration: allow, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

// seen is what an app received.
type seen struct {
	mu      sync.Mutex
	calls   int
	length  int64
	chunked bool
	body    []byte
}

func app(t *testing.T) (*httptest.Server, *seen) {
	s := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.calls, s.length, s.body = s.calls+1, r.ContentLength, b
		s.chunked = len(r.TransferEncoding) > 0 && r.TransferEncoding[0] == "chunked"
		s.mu.Unlock()
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv, s
}

// startInbound starts an inbound side for the SPIFFE ID id in front of a new app.
func startInbound(t *testing.T, ca *identity.CA, id string, h *proxywasm.Host) (*Server, *seen) {
	t.Helper()
	up, s := app(t)
	cert, err := ca.Issue(id)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Listen("127.0.0.1:0", ca.ServerTLS(cert), &Sidecar{Host: h, Upstream: up.URL, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, s
}

func outboundTo(t *testing.T, ca *identity.CA, dest *Server, destID string) *Server {
	t.Helper()
	cert, err := ca.Issue(identity.SPIFFE("shop", "frontend"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ListenOutbound("127.0.0.1:0", &Outbound{Host: guest(t, false), Destination: dest.Addr.String(),
		DestinationID: destID, TLS: ca.ClientTLS(cert), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func postTo(t *testing.T, url, flags string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-test", flags)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Attack: the destination address is served by another workload's sidecar
// (a man in the middle with a valid mesh certificate). The outbound side
// refuses it before sending anything: 502, and that app sees nothing.
func TestOutboundRefusesAnotherIdentity(t *testing.T) {
	ca, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	impostor, got := startInbound(t, ca, identity.SPIFFE("shop", "catalog"), guest(t, false))
	out := outboundTo(t, ca, impostor, identity.SPIFFE("shop", "orders"))
	if code, _ := postTo(t, "http://"+out.Addr.String()+"/orders", "", []byte("secret")); code != http.StatusBadGateway {
		t.Errorf("status %d, want 502", code)
	}
	got.mu.Lock()
	defer got.mu.Unlock()
	if got.calls != 0 {
		t.Errorf("the impostor's app got %d requests", got.calls)
	}
	// The same setup with the right identity goes through.
	orders, ok := startInbound(t, ca, identity.SPIFFE("shop", "orders"), guest(t, false))
	out = outboundTo(t, ca, orders, identity.SPIFFE("shop", "orders"))
	code, _ := postTo(t, "http://"+out.Addr.String()+"/orders", "", []byte("hello"))
	ok.mu.Lock()
	defer ok.mu.Unlock()
	if code != 200 || string(ok.body) != "hello" {
		t.Errorf("status %d, app got %q", code, ok.body)
	}
}

// On the wire, a replaced body goes with the length the filter set, or
// chunked when it removed the length; one left stale never leaves.
func TestReplacedBodyLengthOnTheWire(t *testing.T) {
	ca, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 50<<10)
	for _, c := range []struct {
		allow   bool
		flags   string
		code    int
		chunked bool
	}{
		{true, "hpause,buffer,trace,setcl", 200, false},
		{false, "dropcl,buffer,trace", 200, true},
		{true, "hpause,buffer,trace", 500, false},
	} {
		srv, s := startInbound(t, ca, identity.SPIFFE("shop", "orders"), guest(t, c.allow))
		cert, _ := ca.Issue(identity.SPIFFE("shop", "frontend"))
		cl := &http.Client{Transport: &http.Transport{TLSClientConfig: ca.ClientTLS(cert)}}
		req, _ := http.NewRequest("POST", "https://"+srv.Addr.String()+"/", bytes.NewReader(body))
		req.Header.Set("x-test", c.flags)
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		s.mu.Lock()
		switch {
		case resp.StatusCode != c.code:
			t.Errorf("%s: status %d, want %d", c.flags, resp.StatusCode, c.code)
		case c.code != 200 && s.calls != 0:
			t.Errorf("%s: the app got the request", c.flags)
		case c.code == 200 && (s.chunked != c.chunked || (!c.chunked && s.length != int64(len(s.body)))):
			t.Errorf("%s: app got length %d, chunked %v, %d bytes", c.flags, s.length, s.chunked, len(s.body))
		}
		s.mu.Unlock()
	}
}
