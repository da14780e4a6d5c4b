package election

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meshward/meshward/extauthz/eaas/keystore/etcdtest"
)

func TestTimingAndNamesRefused(t *testing.T) {
	for _, tc := range []struct {
		t    Timing
		name string
		want string
	}{
		{Timing{LeaseDuration: 10 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second}, "x", "renew deadline"},
		{Timing{LeaseDuration: 1500 * time.Millisecond, RenewDeadline: time.Second, RetryPeriod: 500 * time.Millisecond}, "x", "whole seconds"},
		{DefaultTiming, "", "name"},
		{DefaultTiming, strings.Repeat("a", 254), "name"},
		{DefaultTiming, "a/b", "'/'"},
	} {
		_, err := NewLease(nil, "ns", tc.name, "id", tc.t)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v %q: error %v, want %q", tc.t, tc.name, err, tc.want)
		}
	}
	if _, err := NewEtcd(nil, "/meshward/election/xds", "", DefaultTiming); err == nil {
		t.Error("an empty identity was accepted")
	}
}

// Two replicas on a real etcd: one leads at a time, and the other leads
// once the first stops.
func TestEtcdOneLeaderAtATime(t *testing.T) {
	srv, err := etcdtest.Start(t.TempDir())
	if errors.Is(err, etcdtest.ErrMissing) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	cli, err := clientv3.New(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	type term struct {
		id   string
		done chan struct{}
	}
	leading := make(chan term)
	run := func(id string) (context.CancelFunc, *Etcd) {
		e, err := NewEtcd(cli, "/meshward/election/test", id, DefaultTiming)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			_ = e.Run(ctx, func(lctx context.Context) {
				tm := term{id: id, done: make(chan struct{})}
				leading <- tm
				<-lctx.Done()
				close(tm.done)
			})
		}()
		return cancel, e
	}
	stopA, _ := run("a")
	first := <-leading
	if first.id != "a" {
		t.Fatalf("%s leads, a campaigned alone", first.id)
	}
	stopB, b := run("b")
	defer stopB()
	stopA()
	second := <-leading
	select {
	case <-first.done:
	default:
		t.Fatal("b leads while a's term has not ended")
	}
	if second.id != "b" {
		t.Fatalf("%s leads after a stopped", second.id)
	}
	for b.Leader() != "b" { // the observer catches up
		time.Sleep(10 * time.Millisecond)
	}
}
