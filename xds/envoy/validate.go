package envoy

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"time"
)

// Limits keep a sidecar description, and so the resources made from it,
// bounded.
const (
	MaxListenSockets = 16
	MaxPeers         = 1024
	MaxHostsPerPeer  = 64
	MaxEndpoints     = 4096
	MaxUpstreams     = 16
	maxNodeBytes     = 256
	maxIDBytes       = 2048
	maxPathBytes     = 4096
)

var (
	// A service name becomes part of cluster names and stat prefixes.
	serviceRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$`)
	// A host is a DNS name: no wildcard, so no host reaches a service that
	// was not listed for it.
	hostRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
	// SPIFFE IDs as the SPIFFE spec allows them, so a SAN match is exact.
	spiffeRE = regexp.MustCompile(`^spiffe://[a-z0-9._-]+(/[A-Za-z0-9._-]+)+$`)
	tokenRE  = regexp.MustCompile(`^[A-Za-z0-9._-]{0,128}$`)
	nodeRE   = regexp.MustCompile(`^[\x21-\x7e]+$`)
)

// fieldErr prefixes an error with the field it is about; nil stays nil.
func fieldErr(field string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", field, err)
}

func checkSPIFFE(id string) error {
	if len(id) > maxIDBytes || !spiffeRE.MatchString(id) {
		return fmt.Errorf("%q is not a SPIFFE ID (spiffe://<trust domain>/<path>)", id)
	}
	return nil
}

func checkService(name string) error {
	if !serviceRE.MatchString(name) {
		return fmt.Errorf("%q: want 1 to 63 lower-case letters, digits, '.' and '-'", name)
	}
	return nil
}

// validate checks a sidecar; errors name the field.
func (s *Sidecar) validate() error {
	if len(s.Node) > maxNodeBytes || !nodeRE.MatchString(s.Node) {
		return fieldErr("Node", fmt.Errorf("%q: want 1 to %d printable characters without spaces", s.Node, maxNodeBytes))
	}
	if err := checkSPIFFE(s.Identity); err != nil {
		return fieldErr("Identity", err)
	}
	if err := checkService(s.Service); err != nil {
		return fieldErr("Service", err)
	}
	if s.DrainAfter < 0 || s.DrainAfter > time.Hour {
		return fieldErr("DrainAfter", fmt.Errorf("%v: want 0 (default) to 1h", s.DrainAfter))
	}
	for _, check := range []func() error{s.validateSockets, s.validatePeers, s.validateFilter, s.validateAuthz, s.TLS.validate} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// validateSockets checks the sockets Envoy binds and the application's.
func (s *Sidecar) validateSockets() error {
	if len(s.Inbound) == 0 {
		return fieldErr("Inbound", errors.New("no socket: callers could not reach the service"))
	}
	if n := len(s.Inbound) + len(s.Draining); n > MaxListenSockets {
		return fieldErr("Inbound", fmt.Errorf("%d inbound and draining sockets, at most %d", n, MaxListenSockets))
	}
	type bound struct {
		field string
		ap    netip.AddrPort
	}
	var binds []bound
	add := func(field string, sock Socket, use socketUse) error {
		ap, err := sock.addrPort(use)
		if err != nil {
			return fieldErr(field, err)
		}
		for _, b := range binds {
			if bindsClash(b.ap, ap) {
				return fieldErr(field, fmt.Errorf("%s clashes with %s %s", ap, b.field, b.ap))
			}
		}
		binds = append(binds, bound{field, ap})
		return nil
	}
	for i, sock := range s.Inbound {
		if err := add(fmt.Sprintf("Inbound[%d]", i), sock, listen); err != nil {
			return err
		}
	}
	for i, sock := range s.Draining {
		if err := add(fmt.Sprintf("Draining[%d]", i), sock, listen); err != nil {
			return err
		}
	}
	if err := add("Outbound", s.Outbound, loopback); err != nil {
		return err
	}
	// The application is not bound by Envoy, but a listener on its socket
	// would send the sidecar's traffic back to itself.
	return add("App", s.App, upstream)
}

func checkUpstreams(field string, socks []Socket, required bool) error {
	if required && len(socks) == 0 {
		return fieldErr(field, errors.New("no endpoint"))
	}
	if len(socks) > MaxUpstreams {
		return fieldErr(field, fmt.Errorf("%d endpoints, at most %d", len(socks), MaxUpstreams))
	}
	return checkEndpoints(field, socks)
}

func checkEndpoints(field string, socks []Socket) error {
	seen := make(map[netip.AddrPort]int, len(socks))
	for i, sock := range socks {
		ap, err := sock.addrPort(upstream)
		if err != nil {
			return fieldErr(fmt.Sprintf("%s[%d]", field, i), err)
		}
		if j, dup := seen[ap]; dup {
			return fieldErr(fmt.Sprintf("%s[%d]", field, i), fmt.Errorf("%s is also %s[%d]", ap, field, j))
		}
		seen[ap] = i
	}
	return nil
}

func (s *Sidecar) validateAuthz() error {
	a := &s.Authz
	if err := checkSPIFFE(a.Identity); err != nil {
		return fieldErr("Authz.Identity", err)
	}
	for _, u := range []struct {
		field    string
		socks    []Socket
		required bool
	}{{"Authz.GRPC", a.GRPC, true}, {"Authz.HTTP", a.HTTP, true}, {"Authz.EaaS", a.EaaS, false}} {
		if err := checkUpstreams(u.field, u.socks, u.required); err != nil {
			return err
		}
	}
	if a.Timeout < 0 || a.Timeout > time.Minute {
		return fieldErr("Authz.Timeout", fmt.Errorf("%v: want 0 (default) to 1m", a.Timeout))
	}
	return nil
}

func (t *TLS) validate() error {
	files := t.CertFile != "" || t.KeyFile != "" || t.CAFile != ""
	switch {
	case files && t.SDS != nil:
		return fieldErr("TLS", errors.New("both files and SDS: give one"))
	case t.SDS != nil:
		for _, f := range []struct{ field, v string }{{"TLS.SDS.Cluster", t.SDS.Cluster}, {"TLS.SDS.Cert", t.SDS.Cert}, {"TLS.SDS.CA", t.SDS.CA}} {
			if f.v == "" || !tokenRE.MatchString(f.v) {
				return fieldErr(f.field, fmt.Errorf("%q: want 1 to 128 letters, digits, '.', '_' and '-'", f.v))
			}
		}
		return nil
	}
	for _, f := range []struct{ field, v string }{{"TLS.CertFile", t.CertFile}, {"TLS.KeyFile", t.KeyFile}, {"TLS.CAFile", t.CAFile}} {
		if err := checkPath(f.v); err != nil {
			return fieldErr(f.field, err)
		}
	}
	return nil
}

// checkPath wants an absolute path: Envoy resolves a relative one against
// its own working directory, which the control plane does not know.
func checkPath(p string) error {
	if len(p) == 0 || p[0] != '/' || len(p) > maxPathBytes || !nodeRE.MatchString(p) {
		return fmt.Errorf("%q: want an absolute path of printable characters without spaces", p)
	}
	return nil
}
