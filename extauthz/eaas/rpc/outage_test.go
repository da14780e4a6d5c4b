package rpc

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/meshward/meshward/extauthz/eaas/coordinator"
)

// When no cryptor can serve, a requester learns that, with the reason id,
// and nothing of the replicas behind it (their addresses and errors go to
// the operator's log).
func TestAnOutageTellsRequestersNoInternals(t *testing.T) {
	w := newWorld(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	_ = l.Close() // nothing listens there now: every call is refused
	conn, err := grpc.NewClient(dead, grpc.WithTransportCredentials(credentials.NewTLS(w.clientTLS(t, idCoord))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c, err := coordinator.New(coordinator.Config{ID: "coordinator-1",
		Keys: coordinator.NewPool[coordinator.Keys]("keymanager", &coordinator.Replica[coordinator.Keys]{Name: "km", Client: w.keys}),
		Cryptors: coordinator.NewPool[coordinator.Crypto]("cryptor",
			&coordinator.Replica[coordinator.Crypto]{Name: "cr-remote", Client: NewRemoteCrypto(conn)})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Assign(context.Background(), shop()); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	q := NewRequesters(c, HTTPConfig{Log: zerolog.New(&logs)})
	e, err := c.Enrol(idA)
	if err != nil {
		t.Fatal(err)
	}
	batch := encryptBatch(t, 1, e.Seq.Start, []byte("x"))
	rec := post(q, idA, bytes.NewReader(batch), int64(len(batch)))
	if rec.Code != http.StatusServiceUnavailable || reasonOf(t, rec) != coordinator.ReasonUnavailable {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	_, port, _ := net.SplitHostPort(dead)
	if strings.Contains(rec.Body.String(), port) || strings.Contains(rec.Body.String(), "rpc error") {
		t.Fatalf("the requester was told about the replicas: %s", rec.Body.String())
	}
	if !strings.Contains(logs.String(), port) {
		t.Fatalf("the operator's log lacks the replica's error: %s", logs.String())
	}
}
