package snapshot

import (
	"testing"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/meshward/meshward/xds/catalog"
	"github.com/meshward/meshward/xds/rotation"
)

// A rotation changes the snapshot's version and the endpoint's port, and
// nothing else: listener, route and cluster names stay.
func TestBuildKeepsNamesAcrossRotation(t *testing.T) {
	cat, err := catalog.Parse("c", []byte("services:\n  - name: orders\n    endpoints: [{address: 127.0.0.1, port: 1000}]\n    ports: [2000]\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := rotation.New(cat)
	before, err := Build(p.Current())
	if err != nil {
		t.Fatal(err)
	}
	moved, err := p.Rotate("orders")
	if err != nil {
		t.Fatal(err)
	}
	after, err := Build(moved)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []resource.Type{resource.ListenerType, resource.RouteType, resource.ClusterType, resource.EndpointType} {
		b, a := before.GetResources(typ), after.GetResources(typ)
		if len(b) != 1 || len(a) != 1 {
			t.Fatalf("%s: %d and %d resources, want 1", typ, len(b), len(a))
		}
		for name := range b {
			if _, ok := a[name]; !ok {
				t.Fatalf("%s %q renamed by a rotation", typ, name)
			}
		}
	}
	if before.GetVersion(resource.EndpointType) == after.GetVersion(resource.EndpointType) {
		t.Fatal("the version did not change")
	}
	cla := after.GetResources(resource.EndpointType)[ClusterName("orders")].(*endpointv3.ClusterLoadAssignment)
	if port := cla.Endpoints[0].LbEndpoints[0].GetEndpoint().GetAddress().GetSocketAddress().GetPortValue(); port != 2000 {
		t.Fatalf("endpoint port %d, want 2000", port)
	}
}
