package sidecar

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshward/meshward/internal/identity"
)

// inboundListener is what xds/envoy sends for a socket: an inbound listener
// named after it, its state in filter metadata, a connection manager that
// bounds connections while it drains.
func inboundListener(addr string, port uint32, state string) *listenerv3.Listener {
	hcm := &hcmv3.HttpConnectionManager{StatPrefix: "inbound"}
	if state == stateDraining {
		hcm.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{MaxConnectionDuration: durationpb.New(3 * time.Second)}
	}
	tc, _ := anypb.New(hcm)
	md, _ := structpb.NewStruct(map[string]any{"state": state})
	return &listenerv3.Listener{
		Name: inboundListenerPrefix + netip.AddrPortFrom(netip.MustParseAddr(addr), uint16(port)).String(),
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: addr, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}},
		TrafficDirection: corev3.TrafficDirection_INBOUND,
		Metadata:         &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{metadataKey: md}},
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name: "envoy.filters.network.http_connection_manager", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: tc}}}}},
	}
}

func packAll(t testing.TB, ms ...proto.Message) []*anypb.Any {
	t.Helper()
	var out []*anypb.Any
	for _, m := range ms {
		a, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

func TestInboundSocketsRead(t *testing.T) {
	out := inboundListener("127.0.0.1", 15001, "outbound")
	out.Name, out.TrafficDirection = "outbound|127.0.0.1:15001", corev3.TrafficDirection_OUTBOUND
	got, err := inboundSockets(packAll(t, inboundListener("127.0.0.5", 41000, "serving"),
		inboundListener("127.0.0.6", 42000, stateDraining), out))
	if err != nil {
		t.Fatal(err)
	}
	want := map[netip.AddrPort]inboundSocket{
		netip.MustParseAddrPort("127.0.0.5:41000"): {addr: netip.MustParseAddrPort("127.0.0.5:41000")},
		netip.MustParseAddrPort("127.0.0.6:42000"): {addr: netip.MustParseAddrPort("127.0.0.6:42000"), draining: true, drainAfter: 3 * time.Second},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for a, w := range want {
		if got[a] != w {
			t.Errorf("%s: got %+v, want %+v", a, got[a], w)
		}
	}
}

// A response the sidecar cannot use is refused whole, with the listener
// and what is wrong with it.
func TestInboundSocketsRefused(t *testing.T) {
	ok := func() *listenerv3.Listener { return inboundListener("127.0.0.5", 41000, "serving") }
	for _, c := range []struct {
		name string
		res  func() []*anypb.Any
		want string
	}{
		{"a cluster in LDS", func() []*anypb.Any {
			a := packAll(t, ok())
			a[0].TypeUrl = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
			return a
		}, "listener 0: type"},
		{"bytes that do not parse", func() []*anypb.Any {
			a := packAll(t, ok())
			a[0].Value = []byte{0xff, 0xff, 0xff}
			return a
		}, "listener 0:"},
		{"no address", func() []*anypb.Any { l := ok(); l.Address = nil; return packAll(t, l) }, "no socket address"},
		{"not an IP", func() []*anypb.Any {
			l := ok()
			l.Address.GetSocketAddress().Address = "orders.shop"
			return packAll(t, l)
		}, `address "orders.shop" is not an IP address`},
		{"port 0", func() []*anypb.Any {
			l := ok()
			l.Address.GetSocketAddress().PortSpecifier = &corev3.SocketAddress_PortValue{PortValue: 0}
			return packAll(t, l)
		}, "port 0 out of range"},
		{"port over 65535", func() []*anypb.Any {
			l := ok()
			l.Address.GetSocketAddress().PortSpecifier = &corev3.SocketAddress_PortValue{PortValue: 70000}
			return packAll(t, l)
		}, "port 70000 out of range"},
		{"UDP", func() []*anypb.Any {
			l := ok()
			l.Address.GetSocketAddress().Protocol = corev3.SocketAddress_UDP
			return packAll(t, l)
		}, "protocol UDP"},
		{"a name that is not its socket", func() []*anypb.Any {
			l := ok()
			l.Name = "inbound|127.0.0.9:41000"
			return packAll(t, l)
		}, `listener 0 "inbound|127.0.0.9:41000": name does not match its socket 127.0.0.5:41000`},
		{"one name twice", func() []*anypb.Any { return packAll(t, ok(), ok()) }, "named twice"},
		{"a bad drain duration", func() []*anypb.Any {
			l := inboundListener("127.0.0.5", 41000, stateDraining)
			hcm := &hcmv3.HttpConnectionManager{CommonHttpProtocolOptions: &corev3.HttpProtocolOptions{
				MaxConnectionDuration: &durationpb.Duration{Seconds: -1}}}
			l.FilterChains[0].Filters[0].GetTypedConfig().Value, _ = proto.Marshal(hcm)
			return packAll(t, l)
		}, "max_connection_duration"},
		{"too many", func() []*anypb.Any { return make([]*anypb.Any, maxListeners+1) }, "at most 256"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := inboundSockets(c.res())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error with %q", err, c.want)
			}
		})
	}
}

func FuzzInboundSockets(f *testing.F) {
	for _, l := range []*listenerv3.Listener{inboundListener("127.0.0.5", 41000, "serving"), inboundListener("127.0.0.6", 1, stateDraining)} {
		b, _ := proto.Marshal(l)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		res := []*anypb.Any{{TypeUrl: "type.googleapis.com/envoy.config.listener.v3.Listener", Value: b}}
		got, err := inboundSockets(res)
		if err != nil {
			return
		}
		for a, s := range got {
			if a != s.addr || !a.IsValid() || a.Port() == 0 || s.drainAfter < 0 {
				t.Fatalf("accepted %v as %+v", a, s)
			}
		}
		_, _ = routeNames(res)
	})
}

func newTestInbound(t *testing.T) *Inbound {
	t.Helper()
	ca, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(identity.SPIFFE("shop", "orders"))
	if err != nil {
		t.Fatal(err)
	}
	in := NewInbound(&Sidecar{Upstream: "http://127.0.0.1:1"}, ca.ServerTLS(cert), time.Second, zerolog.Nop())
	t.Cleanup(in.Close)
	return in
}

func freePort(t *testing.T, addr string) uint32 {
	t.Helper()
	ln, err := net.Listen("tcp", addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint32(ln.Addr().(*net.TCPAddr).Port)
}

func accepts(addr string) bool {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// A socket another process holds (a workload squatting the port the
// sidecar is told to move to) cannot be bound: the response is refused with
// the listener and the reason, and the sidecar keeps listening where it
// did. Once told, a socket that left LDS refuses connections before Apply
// returns (and so before the ACK).
func TestInboundKeepsLastGoodSockets(t *testing.T) {
	in := newTestInbound(t)
	const host = "127.0.0.1"
	first := freePort(t, host)
	if _, err := in.Apply(listenerTypeURL, packAll(t, inboundListener(host, first, "serving"))); err != nil {
		t.Fatal(err)
	}
	squat, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer squat.Close()
	taken := uint32(squat.Addr().(*net.TCPAddr).Port)
	free := freePort(t, "127.0.0.1")
	_, err = in.Apply(listenerTypeURL, packAll(t, inboundListener(host, first, "serving"),
		inboundListener(host, free, "serving"), inboundListener(host, taken, "serving")))
	if err == nil || !strings.Contains(err.Error(), "address already in use") ||
		!strings.Contains(err.Error(), inboundListenerPrefix+squat.Addr().String()) {
		t.Fatalf("a squatted socket: %v", err)
	}
	firstAddr := netip.AddrPortFrom(netip.MustParseAddr(host), uint16(first)).String()
	freeAddr := netip.AddrPortFrom(netip.MustParseAddr(host), uint16(free)).String()
	if got := in.Sockets(); len(got) != 1 || !accepts(firstAddr) || accepts(freeAddr) {
		t.Fatalf("after the refused response the sidecar has %v (free socket bound: %v)", got, accepts(freeAddr))
	}
	if _, err := in.Apply(listenerTypeURL, packAll(t, inboundListener(host, free, "serving"))); err != nil {
		t.Fatal(err)
	}
	if accepts(firstAddr) || !accepts(freeAddr) {
		t.Fatalf("moved to %s: the old socket accepts %v, the new one %v", freeAddr, accepts(firstAddr), accepts(freeAddr))
	}
}

const listenerTypeURL = "type.googleapis.com/envoy.config.listener.v3.Listener"
