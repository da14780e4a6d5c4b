package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/snapshot"
)

// servedPorts reads the endpoints' version and each service's port from the
// snapshot being served: what clients get, not what the planner says.
func servedPorts(t *testing.T, r *Running) (string, map[string]uint32) {
	t.Helper()
	r.mu.Lock()
	served := r.served
	r.mu.Unlock()
	snap, err := snapshot.Build(served)
	if err != nil {
		t.Fatal(err)
	}
	ports := map[string]uint32{}
	for _, svc := range []string{"orders", "payments"} {
		cla := snap.GetResources(resource.EndpointType)[snapshot.ClusterName(svc)].(*endpointv3.ClusterLoadAssignment)
		ports[svc] = cla.Endpoints[0].LbEndpoints[0].GetEndpoint().GetAddress().GetSocketAddress().GetPortValue()
	}
	return snap.GetVersion(resource.EndpointType), ports
}

// The review's attacks with a valid token: rotate orders to port 1 (it broke
// every client), to payments' port (it sent orders' clients to payments),
// to a port outside its pool. Each is refused with a 4xx that says why, and
// the snapshot being served does not change.
func TestAdminRotateStaysInPool(t *testing.T) {
	r := start(t, twoServices, Config{Admin: AdminAuth{Token: testToken}, Defaults: catalog.Schedule{Grace: time.Millisecond}})
	base, auth := "http://"+r.AdminAddr.String(), "Bearer "+string(testToken)
	for _, tc := range []struct {
		name, query string
		code        int
		want        string
	}{
		{"port 1", "service=orders&port=1", 400, "service \"orders\" may move to [2000 3000], not to 1"},
		{"payments' port", "service=orders&port=1001", 409, `127.0.0.1:1001 is service "payments"'s`},
		{"payments' pool port", "service=orders&port=2001", 409, `127.0.0.1:2001 is service "payments"'s`},
		{"outside the pool", "service=orders&port=4000", 400, "not to 4000"},
		{"payments onto orders", "service=payments&port=1000", 409, `service "orders"'s`},
		{"unknown service", "service=billing", 404, `no such service: "billing"`},
		{"no service", "", 404, `no such service: ""`},
		{"port out of range", "service=orders&port=70000", 400, `port "70000": want 1-65535`},
		{"zero port", "service=orders&port=0", 400, "want 1-65535"},
	} {
		code, body := call(t, http.DefaultClient, "POST", base+"/rotate?"+tc.query, auth)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %q, want %d containing %q", tc.name, code, body, tc.code, tc.want)
		}
		if v, ports := servedPorts(t, r); v != "1" || ports["orders"] != 1000 || ports["payments"] != 1001 {
			t.Fatalf("%s: the served snapshot changed: version %s, ports %v", tc.name, v, ports)
		}
	}
	for reason, want := range map[string]float64{"outside-pool": 2, "other-service": 3, "unknown-service": 2, "bad-request": 2} {
		if got := testutil.ToFloat64(r.metrics.refused.WithLabelValues(reason)); got != want {
			t.Errorf("refused{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	if code, _ := call(t, http.DefaultClient, "GET", base+"/rotate", auth); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /rotate: %d", code)
	}

	// Pool rotations still work, and move only their service: a drawn
	// port, then the other one by name.
	code, body := call(t, http.DefaultClient, "POST", base+"/rotate?service=orders", auth)
	drawn := uint32(2000)
	if strings.Contains(body, `"orders":["127.0.0.1:3000"]`) {
		drawn = 3000
	}
	if code != 200 || !strings.Contains(body, fmt.Sprintf(`"orders":["127.0.0.1:%d"]`, drawn)) {
		t.Fatalf("rotate orders: %d %s", code, body)
	}
	other := 5000 - drawn
	if code, body := call(t, http.DefaultClient, "POST", base+fmt.Sprintf("/rotate?service=orders&port=%d", other), auth); code != 200 ||
		!strings.Contains(body, fmt.Sprintf(`"orders":["127.0.0.1:%d"]`, other)) {
		t.Fatalf("rotate orders to %d: %d %s", other, code, body)
	}
	if v, ports := servedPorts(t, r); v != "3" || ports["orders"] != other || ports["payments"] != 1001 {
		t.Fatalf("served: version %s, ports %v; want 3, orders on %d, payments on 1001", v, ports, other)
	}
	_, body = call(t, http.DefaultClient, "GET", base+"/placement", auth)
	var p placementJSON
	if err := json.Unmarshal([]byte(body), &p); err != nil || p.Version != 3 {
		t.Fatalf("placement %s: %v", body, err)
	}
}
