package etcdtest

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meshward/meshward/internal/identity"
)

// TestClusterRefusesStrangers: etcd answers a client of its CA, and refuses
// a workload's certificate from another CA (the mesh's) and a client
// without a certificate: no workload can write a quarantine or lift one.
func TestClusterRefusesStrangers(t *testing.T) {
	c := Start(t, 3)
	ctx := context.Background()
	if _, err := c.Client(t).Put(ctx, "k", "v"); err != nil {
		t.Fatalf("a client of the test CA: %v", err)
	}
	none := c.Config()
	none.TLS.Certificates = nil
	mesh, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	workload, err := mesh.Issue(identity.SPIFFE("shop", "frontend"))
	if err != nil {
		t.Fatal(err)
	}
	stranger := c.Config()
	stranger.TLS.Certificates = []tls.Certificate{workload}
	for name, cfg := range map[string]clientv3.Config{"no certificate": none, "a mesh workload's certificate": stranger} {
		cl, err := clientv3.New(cfg)
		if err != nil {
			continue
		}
		tctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err = cl.Put(tctx, "k", "forged")
		cancel()
		cl.Close()
		if err == nil {
			t.Errorf("%s: etcd answered", name)
		}
	}
}
