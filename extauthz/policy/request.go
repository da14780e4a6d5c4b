// Package policy evaluates Istio AuthorizationPolicy resources (and
// meshward's own MeshwardPolicy) with Istio's documented semantics, compiled
// into an index so that a decision's cost does not grow with the number of
// policies. It knows nothing of the transports that ask it.
package policy

import (
	"net"
	"net/netip"
	"strings"
)

// Request is the facts of one hop that a decision looks at.
type Request struct {
	SourcePrincipal  string // SPIFFE ID of the peer certificate: spiffe://<td>/ns/<ns>/sa/<sa>
	SourceAddress    string // ip:port of the peer
	RemoteAddress    string // the original client's ip, if a proxy passed it on
	RequestPrincipal string // <iss>/<sub> of a validated JWT, if any

	Destination          string // the destination workload's SPIFFE ID (or host)
	DestinationNamespace string // "" derives it from Destination
	DestinationLabels    map[string]string
	DestinationService   string // short Kubernetes service name, for targetRefs
	DestinationAddress   string // ip:port the request was sent to

	Host    string
	Method  string
	Path    string
	Headers map[string]string // lower-case names
	SNI     string
}

// facts are the derived values rules compare with, computed once per request.
type facts struct {
	*Request
	principal   string // Istio's form: the SPIFFE ID without "spiffe://"
	trustDomain string
	namespace   string
	account     string // <namespace>/<serviceaccount>
	sourceIP    netip.Addr
	remoteIP    netip.Addr
	destIP      netip.Addr
	destPort    uint32
	path        string // without query and fragment
	hostNoPort  string
}

func derive(r *Request) *facts {
	f := &facts{Request: r, path: r.Path}
	if i := strings.IndexAny(f.path, "?#"); i >= 0 {
		f.path = f.path[:i]
	}
	f.principal = strings.TrimPrefix(r.SourcePrincipal, "spiffe://")
	if td, rest, ok := strings.Cut(f.principal, "/ns/"); ok {
		f.trustDomain = td
		if ns, sa, ok := strings.Cut(rest, "/sa/"); ok {
			f.namespace, f.account = ns, ns+"/"+sa
		}
	}
	f.sourceIP, _ = parseHostAddr(r.SourceAddress)
	f.remoteIP, _ = parseHostAddr(r.RemoteAddress)
	if !f.remoteIP.IsValid() {
		f.remoteIP = f.sourceIP
	}
	f.destIP, f.destPort = parseHostAddr(r.DestinationAddress)
	f.hostNoPort = r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		f.hostNoPort = h
	}
	return f
}

// parseHostAddr accepts "ip", "ip:port" and "[ip]:port".
func parseHostAddr(s string) (netip.Addr, uint32) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), uint32(ap.Port())
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return a.Unmap(), 0
	}
	if h, _, err := net.SplitHostPort(s); err == nil {
		a, _ := netip.ParseAddr(h)
		return a, 0
	}
	return netip.Addr{}, 0
}

// DestinationNS is the namespace of the destination workload.
func (r *Request) DestinationNS() string {
	if r.DestinationNamespace != "" {
		return r.DestinationNamespace
	}
	_, rest, ok := strings.Cut(strings.TrimPrefix(r.Destination, "spiffe://"), "/ns/")
	if !ok {
		return ""
	}
	ns, _, _ := strings.Cut(rest, "/")
	return ns
}
