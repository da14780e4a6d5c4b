package envoy

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

func versions(t *testing.T, r Resources) map[resource.Type]string {
	t.Helper()
	v, err := r.Versions()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A caller's view of a rotation of orders: only EDS changes. A renamed or
// changed cluster would fail the requests in flight on it.
func TestRotationChangesOnlyEndpoints(t *testing.T) {
	before := mesh()["frontend"]
	after := mesh()["frontend"]
	after.Calls = []Peer{peer("orders", 8080, ordersNew, Socket{"127.0.0.21", 41001})}
	rb, ra := mustBuild(t, before), mustBuild(t, after)
	vb, va := versions(t, rb), versions(t, ra)
	for _, typ := range ResourceTypes() {
		if changed := vb[typ] != va[typ]; changed != (typ == resource.EndpointType) {
			t.Errorf("%s: version %s -> %s (changed %v)", typ, vb[typ], va[typ], changed)
		}
		if !slices.Equal(names(rb[typ]), names(ra[typ])) {
			t.Errorf("%s: names %v -> %v", typ, names(rb[typ]), names(ra[typ]))
		}
	}
	// The versions are of content: the same input twice gives the same ones.
	if again := versions(t, mustBuild(t, mesh()["frontend"])); !maps.Equal(again, vb) {
		t.Errorf("rebuilt versions %v, were %v", again, vb)
	}
}

type listenerState struct {
	state string
	drain time.Duration
}

func inboundStates(t *testing.T, r Resources) map[string]listenerState {
	t.Helper()
	out := map[string]listenerState{}
	for _, l := range listeners(r) {
		if l.TrafficDirection.String() != "INBOUND" {
			continue
		}
		st := listenerState{state: l.Metadata.FilterMetadata[MetadataKey].Fields["state"].GetStringValue()}
		if d := hcmOf(t, l).GetCommonHttpProtocolOptions().GetMaxConnectionDuration(); d != nil {
			st.drain = d.AsDuration()
		}
		out[l.Name] = st
	}
	return out
}

// The destination's view, make-before-break: the new socket is served
// before the old one drains, the old one keeps its name and address while
// it drains (a renamed or moved listener would close it at once), and its
// connections are closed gracefully so callers move.
func TestRotationMakeBeforeBreak(t *testing.T) {
	old, new := Socket{"127.0.0.20", 41000}, Socket{"127.0.0.20", 41001}
	oldName, newName := InboundListenerName(old), InboundListenerName(new)
	base := mesh()["orders"]
	steps := []struct {
		name     string
		inbound  []Socket
		draining []Socket
		drain    time.Duration
		want     map[string]listenerState
	}{
		{"before", []Socket{old}, nil, 0, map[string]listenerState{oldName: {StateServing, 0}}},
		{"both serve", []Socket{old, new}, nil, 0,
			map[string]listenerState{oldName: {StateServing, 0}, newName: {StateServing, 0}}},
		{"old drains", []Socket{new}, []Socket{old}, 0,
			map[string]listenerState{oldName: {StateDraining, 5 * time.Second}, newName: {StateServing, 0}}},
		{"old drains fast", []Socket{new}, []Socket{old}, time.Second,
			map[string]listenerState{oldName: {StateDraining, time.Second}, newName: {StateServing, 0}}},
		{"after", []Socket{new}, nil, 0, map[string]listenerState{newName: {StateServing, 0}}},
	}
	var clusters string
	for _, st := range steps {
		s := base
		s.Inbound, s.Draining, s.DrainAfter = st.inbound, st.draining, st.drain
		r := mustBuild(t, s)
		if got := inboundStates(t, r); !maps.Equal(got, st.want) {
			t.Errorf("%s: inbound listeners %v, want %v", st.name, got, st.want)
		}
		for _, l := range listeners(r) {
			if l.Name == oldName && l.Address.GetSocketAddress().GetPortValue() != old.Port {
				t.Errorf("%s: %s moved to %v", st.name, oldName, l.Address)
			}
		}
		v := versions(t, r)
		if clusters != "" && v[resource.ClusterType] != clusters {
			t.Errorf("%s: the destination's clusters changed in a rotation", st.name)
		}
		clusters = v[resource.ClusterType]
	}
}

// Names are a function of what they name: a socket's listener name holds the
// socket, and IPv6 sockets are written unambiguously.
func TestListenerNames(t *testing.T) {
	tests := []struct {
		sock Socket
		want string
	}{
		{Socket{"127.0.0.1", 15006}, "inbound|127.0.0.1:15006"},
		{Socket{"::1", 15006}, "inbound|[::1]:15006"},
		{Socket{"0.0.0.0", 8443}, "inbound|0.0.0.0:8443"},
	}
	for _, tc := range tests {
		if got := InboundListenerName(tc.sock); got != tc.want {
			t.Errorf("InboundListenerName(%v) = %q, want %q", tc.sock, got, tc.want)
		}
	}
	s := mesh()["orders"]
	s.Inbound = []Socket{{"::1", 41000}}
	var got []string
	for _, l := range listeners(mustBuild(t, s)) {
		got = append(got, l.Name)
	}
	if want := []string{"inbound|[::1]:41000", "outbound|127.0.0.20:15001"}; !slices.Equal(got, want) {
		t.Errorf("listeners %v, want %v", got, want)
	}
}
