package snapshot

import (
	"fmt"
	"testing"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/rotation"
)

var services = []string{"orders", "payments", "users"}

func testPlanner(t *testing.T) *rotation.Planner {
	y := "services:\n"
	for i, s := range services {
		y += fmt.Sprintf("  - name: %s\n    endpoints: [{address: 127.0.0.1, port: %d}]\n    ports: [%d]\n", s, 1000+i, 2000+i)
	}
	cat, err := catalog.Parse("c", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return rotation.New(cat)
}

func port(t *testing.T, cla any) uint32 {
	t.Helper()
	return cla.(*endpointv3.ClusterLoadAssignment).Endpoints[0].LbEndpoints[0].GetEndpoint().GetAddress().GetSocketAddress().GetPortValue()
}

// Every type holds every service (a client may ask for any; a listener or
// cluster missing from a response is taken as deleted); a rotation changes
// the endpoints' version and the moved service's port, and nothing else:
// names, the other types' versions, the other services' endpoints stay.
func TestBuildKeepsNamesAcrossRotation(t *testing.T) {
	p := testPlanner(t)
	before, err := Build(p.Current())
	if err != nil {
		t.Fatal(err)
	}
	moved, err := p.Rotate("payments")
	if err != nil {
		t.Fatal(err)
	}
	after, err := Build(moved)
	if err != nil {
		t.Fatal(err)
	}
	names := map[resource.Type]func(string) string{
		resource.ListenerType: ListenerName, resource.RouteType: RouteName,
		resource.ClusterType: ClusterName, resource.EndpointType: ClusterName,
	}
	for typ, name := range names {
		b, a := before.GetResources(typ), after.GetResources(typ)
		if len(b) != len(services) || len(a) != len(services) {
			t.Fatalf("%s: %d and %d resources, want %d", typ, len(b), len(a), len(services))
		}
		for _, s := range services {
			if a[name(s)] == nil || b[name(s)] == nil {
				t.Fatalf("%s %q missing before or after the rotation", typ, name(s))
			}
			if typ != resource.EndpointType && !proto.Equal(a[name(s)], b[name(s)]) {
				t.Fatalf("%s %q changed by a rotation", typ, name(s))
			}
		}
		changed := before.GetVersion(typ) != after.GetVersion(typ)
		if changed != (typ == resource.EndpointType) {
			t.Fatalf("%s: version %q -> %q; want a new version for endpoints only", typ, before.GetVersion(typ), after.GetVersion(typ))
		}
	}
	eds, old := after.GetResources(resource.EndpointType), before.GetResources(resource.EndpointType)
	if got := port(t, eds[ClusterName("payments")]); got != 2001 {
		t.Fatalf("payments on port %d, want 2001", got)
	}
	for _, s := range []string{"orders", "users"} {
		if !proto.Equal(eds[ClusterName(s)], old[ClusterName(s)]) {
			t.Fatalf("rotating payments changed %s's endpoints", s)
		}
	}
}

// The names' version follows the set of names, not their order of arrival.
func TestNamesVersion(t *testing.T) {
	a, b := namesVersion([]string{"a", "bc"}), namesVersion([]string{"ab", "c"})
	if a == b || a != namesVersion([]string{"a", "bc"}) {
		t.Fatalf("versions %q %q: want distinct and stable", a, b)
	}
}
