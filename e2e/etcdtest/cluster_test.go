package etcdtest

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestClusterRefusesStrangers: etcd answers a client of the test CA, and
// refuses one of another CA and one without a certificate.
func TestClusterRefusesStrangers(t *testing.T) {
	c := Start(t, 3)
	ctx := context.Background()
	if _, err := c.Client(t).Put(ctx, "k", "v"); err != nil {
		t.Fatalf("a client of the test CA: %v", err)
	}
	other := c.Config()
	other.TLS.Certificates = nil
	for name, cfg := range map[string]clientv3.Config{"no certificate": other} {
		cl, err := clientv3.New(cfg)
		if err != nil {
			continue
		}
		tctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err = cl.Get(tctx, "k")
		cancel()
		cl.Close()
		if err == nil {
			t.Errorf("%s: etcd answered", name)
		}
	}
}
