package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"

	"github.com/meshward/meshward/api/check"
	"github.com/meshward/meshward/extauthz/bench"
)

// rawCodec sends bytes as they are, so a test can put anything on the wire
// as a Check request.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

var _ encoding.Codec = rawCodec{}

// The attack of issue 8, finding 1: thousands of checks that fail before any
// handler runs (bodies that are not protobuf, bodies over gRPC's limit,
// streams cancelled or cut before their body, HTTP checks that are
// malformed, too big or trickled) must give back every slot they took; then a
// good check is answered and no slot is held.
func TestHostileChecksReleaseTheirSlots(t *testing.T) {
	set, err := bench.Set(10)
	if err != nil {
		t.Fatal(err)
	}
	const slots = 16
	r, err := Start(Config{Policy: set, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", MaxInFlight: slots,
		InsecurePlaintextChecks: true, VerdictToken: []byte(token), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	cc := dial(t, r)

	attacks := []struct {
		name string
		n    int
		run  func(i int) error
	}{
		{"not protobuf", 2000, func(int) error { return rawCheck(cc, []byte{0xff, 0xff, 0xff}, time.Second) }},
		{"over the message limit", 20, func(int) error { return rawCheck(cc, bytes.Repeat([]byte{0xff}, 5<<20), 5*time.Second) }},
		{"cancelled before the body", 200, func(int) error { return stalledStream(cc, 20*time.Millisecond) }},
		{"connection cut before the body", 50, func(int) error { return cutConnection(r.GRPCAddr.String()) }},
		{"http malformed", 500, func(int) error { return postCheck(r, []byte{0xff, 0xff, 0xff}) }},
		{"http too big", 50, func(int) error { return postCheck(r, bytes.Repeat([]byte("a"), check.MaxRequestBytes+1)) }},
		{"http trickled then cut", 50, func(int) error { return trickleHTTP(r.HTTPAddr.String()) }},
	}
	for _, a := range attacks {
		var wg sync.WaitGroup
		work := make(chan int)
		for w := 0; w < 2*slots; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					_ = a.run(i) // every one of these fails; what matters is what it leaves behind
				}
			}()
		}
		for i := 0; i < a.n; i++ {
			work <- i
		}
		close(work)
		wg.Wait()
		t.Logf("%s: %d sent", a.name, a.n)
	}

	// A stream the server still holds ends within checkDeadline; the slots
	// must come back by then, not stay taken for good.
	deadline := time.Now().Add(checkDeadline + 5*time.Second)
	for {
		_, err := authv3.NewAuthorizationClient(cc).Check(context.Background(), bench.CheckRequests(bench.Requests(10, 1, 1))[0])
		inFlight := gauge(t, r, "meshward_authz_checks_in_flight")
		if err == nil && inFlight == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the attacks: check error %v, %s slots still held", err, inFlight)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func rawCheck(cc *grpc.ClientConn, body []byte, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []byte
	return cc.Invoke(ctx, checkMethod, &body, &out, grpc.ForceCodec(rawCodec{}))
}

// stalledStream opens a Check stream, sends no message, and gives up.
func stalledStream(cc *grpc.ClientConn, after time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), after)
	defer cancel()
	st, err := cc.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, checkMethod, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return err
	}
	var out []byte
	return st.RecvMsg(&out)
}

// cutConnection opens a connection of its own, starts a Check whose body
// never comes, and closes the connection under it.
func cutConnection(addr string) error {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	st, err := cc.NewStream(context.Background(), &grpc.StreamDesc{ClientStreams: true}, checkMethod, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		cc.Close()
		return err
	}
	_ = st.SendMsg(&[]byte{}) // a frame, so the server surely has the stream
	time.Sleep(5 * time.Millisecond)
	return cc.Close()
}

func postCheck(r *Running, body []byte) error {
	resp, err := http.Post("http://"+r.HTTPAddr.String()+check.Path, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return errors.New("a hostile check was answered 200")
	}
	return nil
}

// trickleHTTP announces a body and sends part of it, then hangs up.
func trickleHTTP(addr string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n{\"source_principal\":", check.Path)
	time.Sleep(10 * time.Millisecond)
	return err
}

// gauge reads one unlabelled series from /metrics.
func gauge(t *testing.T, r *Running, name string) string {
	for _, line := range strings.Split(scrape(t, r), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == name {
			return f[1]
		}
	}
	t.Fatalf("no series %s", name)
	return ""
}
