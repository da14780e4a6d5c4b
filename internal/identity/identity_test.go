package identity

import (
	"crypto/tls"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct{ in, ns, sa, err string }{
		{in: "spiffe://cluster.local/ns/shop/sa/orders", ns: "shop", sa: "orders"},
		{in: "https://cluster.local/ns/shop/sa/orders", err: "not a spiffe"},
		{in: "spiffe://cluster.local/ns/shop", err: "want spiffe://"},
		{in: "spiffe://cluster.local/ns//sa/x", err: "want spiffe://"},
		{in: "spiffe:///ns/a/sa/b", err: "not a spiffe"},
	}
	for _, tc := range tests {
		_, ns, sa, err := Parse(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("%s: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || ns != tc.ns || sa != tc.sa {
			t.Fatalf("%s: %s %s %v", tc.in, ns, sa, err)
		}
	}
}

// A handshake between two issued certificates shows each side the other's ID.
func TestMutualTLS(t *testing.T) {
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	server, _ := ca.Issue(SPIFFE("shop", "orders"))
	client, _ := ca.Issue(SPIFFE("shop", "frontend"))
	ln, err := tls.Listen("tcp", "127.0.0.1:0", ca.ServerTLS(server))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			got <- err.Error()
			return
		}
		st := tc.ConnectionState()
		got <- PeerID(&st)
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), ca.ClientTLS(client))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st := c.ConnectionState()
	if PeerID(&st) != SPIFFE("shop", "orders") {
		t.Fatalf("client sees %q", PeerID(&st))
	}
	if id := <-got; id != SPIFFE("shop", "frontend") {
		t.Fatalf("server sees %q", id)
	}
	if _, err := ca.Issue("frontend"); err == nil {
		t.Fatal("issued a certificate for a non-SPIFFE name")
	}
}
