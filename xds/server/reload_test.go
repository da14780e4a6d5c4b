package server

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/meshward/meshward/xds/catalog"
)

// A reload keeps orders on the port it moved to (still in its new pool),
// drops payments, adds users, and the timers follow the new schedule.
func TestReload(t *testing.T) {
	r := start(t, twoServices, Config{Admin: AdminAuth{Token: testToken}, Defaults: catalog.Schedule{Grace: time.Millisecond}})
	if _, err := r.Move(context.Background(), "orders", 3000, "admin"); err != nil {
		t.Fatal(err)
	}
	next, err := catalog.Parse("c2", []byte(`services:
  - name: orders
    endpoints: [{address: 127.0.0.1, port: 1000}]
    ports: [3000, 4000]
    rotation: {every: 1h}
  - name: users
    endpoints: [{address: 127.0.0.1, port: 1002}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	p := r.Current()
	if !slices.Equal(p.Services(), []string{"orders", "users"}) || p.Endpoints("orders")[0].Port != 3000 {
		t.Fatalf("after the reload: %v, orders on %v", p.Services(), p.Endpoints("orders"))
	}
	waitFor(t, func() bool { return r.Status().Services["orders"].NextDue != nil })
	if testutil.ToFloat64(r.metrics.reloads.WithLabelValues("ok")) != 1 {
		t.Fatal("the reload was not counted")
	}
	if _, err := r.Move(context.Background(), "payments", 0, "admin"); err == nil {
		t.Fatal("a service the reload removed still moves")
	}
}
