package sidecar

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	runtimev3 "github.com/envoyproxy/go-control-plane/envoy/service/runtime/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"

	"github.com/meshward/meshward/internal/identity"
	xdsserver "github.com/meshward/meshward/xds/server"
)

// errMoved ends a stream whose server announced another address.
var errMoved = errors.New("ads: the control plane announced its next address")

// announced takes the control plane's announcement: it is ACKed on this
// stream (the server waits for nothing else) and, if it names another
// address, the stream ends and the next one goes there. It comes over the
// stream the server authenticated, from the server's state alone.
func (st *adsState) announced(s adsStream, resp *discoveryv3.DiscoveryResponse) error {
	typ := resp.GetTypeUrl()
	addr, err := announcedAddr(resp)
	if err != nil {
		return st.send(s, typ, &status.Status{Code: int32(codes.InvalidArgument), Message: err.Error()})
	}
	st.versions[typ] = resp.GetVersionInfo()
	if err := st.send(s, typ, nil); err != nil {
		return err
	}
	if addr == st.target {
		return nil
	}
	st.target = addr
	return errMoved
}

func announcedAddr(resp *discoveryv3.DiscoveryResponse) (string, error) {
	if len(resp.GetResources()) != 1 {
		return "", fmt.Errorf("announcement: %d resources, want 1", len(resp.GetResources()))
	}
	var rt runtimev3.Runtime
	if err := resp.GetResources()[0].UnmarshalTo(&rt); err != nil {
		return "", fmt.Errorf("announcement: %w", err)
	}
	a := rt.GetLayer().GetFields()[xdsserver.AnnounceAddressKey].GetStringValue()
	if rt.GetName() != xdsserver.AnnounceName {
		return "", fmt.Errorf("announcement: resource %q", rt.GetName())
	}
	if _, err := netip.ParseAddrPort(a); err != nil {
		return "", fmt.Errorf("announcement: address %q: %w", a, err)
	}
	return a, nil
}

// elsewhere moves to the next address of the list after one that did not
// answer; false once every one was tried since the last answer (then the
// caller backs off).
func (st *adsState) elsewhere() bool {
	if len(st.cfg.Servers) == 0 {
		return false
	}
	st.target = st.cfg.Servers[st.next%len(st.cfg.Servers)]
	st.next++
	st.tried++
	return st.tried <= len(st.cfg.Servers)
}

// serverVerified requires the xDS server's SPIFFE ID on top of cfg's CA
// check ("" leaves cfg as it is).
func serverVerified(cfg *tls.Config, id string) *tls.Config {
	if id == "" {
		return cfg
	}
	out := cfg.Clone()
	prev := cfg.VerifyConnection
	out.VerifyConnection = func(cs tls.ConnectionState) error {
		if got := identity.PeerID(&cs); got != id {
			return fmt.Errorf("ads: the server is %q, not the control plane %q", got, id)
		}
		if prev != nil {
			return prev(cs)
		}
		return nil
	}
	return out
}
