// Package policy evaluates Istio AuthorizationPolicy resources (and
// meshward's own MeshwardPolicy) with Istio's documented semantics, compiled
// into an index so that a decision's cost does not grow with the number of
// policies. It knows nothing of the transports that ask it.
package policy

import (
	"net/netip"
	"strconv"
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
	// OmittedHeaders are headers the caller's filter left out of the check
	// (to bound its size); OmittedHeadersTruncated: some of their names too.
	OmittedHeaders          []string
	OmittedHeadersTruncated bool
}

// HeadersOmitted says whether the check left any header out.
func (r *Request) HeadersOmitted() bool {
	return len(r.OmittedHeaders) > 0 || r.OmittedHeadersTruncated
}

// facts are the derived values rules compare with, computed once per request.
type facts struct {
	*Request
	principal   string // Istio's form: the SPIFFE ID without "spiffe://"
	trustDomain string
	namespace   string
	sa          string // service account name
	addrs       bool   // the addresses below are parsed (on first use: most rules need none)
	sourceIP    netip.Addr
	remoteIP    netip.Addr
	destIP      netip.Addr
	destPort    uint32
	path        string // without query and fragment
	hostNoPort  string
	hostDone    bool
	anyPortNS   map[string]bool // namespaces whose hosts match with any port (MeshwardPolicy)
}

// derive fills f; it allocates nothing, since it runs on every decision.
func derive(r *Request, f *facts) {
	*f = facts{Request: r, path: r.Path}
	if i := strings.IndexAny(f.path, "?#"); i >= 0 {
		f.path = f.path[:i]
	}
	f.setPrincipal(r.SourcePrincipal)
}

// setPrincipal fills the facts of a SPIFFE ID.
func (f *facts) setPrincipal(id string) {
	f.principal = strings.TrimPrefix(id, "spiffe://")
	if td, rest, ok := strings.Cut(f.principal, "/ns/"); ok {
		f.trustDomain = td
		if ns, sa, ok := strings.Cut(rest, "/sa/"); ok {
			f.namespace, f.sa = ns, sa
		}
	}
}

// hostBare is the host without its port, computed on first use.
func (f *facts) hostBare() string {
	if !f.hostDone {
		f.hostNoPort, f.hostDone = stripPort(f.Host), true
	}
	return f.hostNoPort
}

func (f *facts) parseAddrs() {
	if f.addrs {
		return
	}
	f.addrs = true
	f.sourceIP, _ = parseHostAddr(f.SourceAddress)
	f.remoteIP, _ = parseHostAddr(f.RemoteAddress)
	if !f.remoteIP.IsValid() {
		f.remoteIP = f.sourceIP
	}
	f.destIP, f.destPort = parseHostAddr(f.DestinationAddress)
}

func (f *facts) srcIP() netip.Addr { f.parseAddrs(); return f.sourceIP }
func (f *facts) rmtIP() netip.Addr { f.parseAddrs(); return f.remoteIP }
func (f *facts) dstIP() netip.Addr { f.parseAddrs(); return f.destIP }
func (f *facts) dstPort() uint32   { f.parseAddrs(); return f.destPort }

// account is <namespace>/<serviceaccount>, built only for the few rules and
// index lookups that need it.
func (f *facts) account() string {
	if f.namespace == "" {
		return ""
	}
	return f.namespace + "/" + f.sa
}

// stripPort drops a trailing :port from a host (and the brackets of [v6]).
func stripPort(h string) string {
	i := strings.LastIndexByte(h, ':')
	if i < 0 || strings.IndexByte(h[i+1:], ']') >= 0 {
		return h
	}
	if strings.IndexByte(h[:i], ':') >= 0 && (h[0] != '[' || h[i-1] != ']') {
		return h // a bare IPv6 address has no port
	}
	return strings.TrimSuffix(strings.TrimPrefix(h[:i], "["), "]")
}

// parseHostAddr accepts "ip", "ip:port" and "[ip]:port" without allocating
// (error values allocate, so the common forms are tried by shape first).
func parseHostAddr(s string) (netip.Addr, uint32) {
	if s == "" {
		return netip.Addr{}, 0
	}
	host, port := s, uint32(0)
	if i := strings.LastIndexByte(s, ':'); i >= 0 && (strings.IndexByte(s[:i], ':') < 0 || s[0] == '[') {
		host = strings.TrimSuffix(strings.TrimPrefix(s[:i], "["), "]")
		if p, err := strconv.ParseUint(s[i+1:], 10, 16); err == nil {
			port = uint32(p)
		}
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, 0
	}
	return a.Unmap(), port
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
