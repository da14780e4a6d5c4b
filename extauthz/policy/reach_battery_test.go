package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// battery is concrete requests from src to dst: for every rule of the set,
// requests built to match it (the first value of each of its fields,
// conditions and JWT; one per operation), with and without its headers;
// then combinations of every value any rule names (or does not admit),
// taken whole when there are at most maxCombos of them, else a
// deterministic sample; each at the addresses src and dst may use (and,
// where they are unknown, at the ones the rules mention).
func battery(s *Set, src Peer, dst Workload, maxCombos int) []*Request {
	var shapes []*Request
	var m mentioned
	for _, ps := range s.byNS {
		for _, p := range ps {
			for _, r := range p.Rules {
				shapes = append(shapes, witnesses(r)...)
				m.rule(r)
			}
		}
	}
	m.sort()
	froms, tos := sourceAddrs(src, m.srcIPs), destAddrs(dst, m.dstIPs, m.ports)
	var out []*Request
	add := func(q Request, from, to string) {
		q.SourcePrincipal, q.SourceAddress = src.Principal, from
		q.Destination, q.DestinationNamespace = dst.ID, dst.Namespace
		q.DestinationLabels, q.DestinationService, q.DestinationAddress = dst.Labels, dst.Service, to
		out = append(out, &q)
	}
	for _, from := range froms {
		for _, to := range tos {
			for _, sh := range shapes {
				add(*sh, from, to)
				bare := *sh
				bare.Headers = nil
				add(bare, from, to)
			}
		}
	}
	m.combine(maxCombos, func(q Request, i int) { add(q, froms[i%len(froms)], tos[(i/len(froms))%len(tos)]) })
	return out
}

// mentioned are the values the rules name, by what they are compared with.
type mentioned struct {
	srcIPs, dstIPs                           []netip.Addr
	ports                                    []uint32
	methods, paths, hosts, jwts, remote, sni []string
	headers                                  map[string][]string
}

// sort makes the battery the same on every run (ports come from maps).
func (m *mentioned) sort() {
	for _, a := range []*[]netip.Addr{&m.srcIPs, &m.dstIPs} {
		slices.SortFunc(*a, netip.Addr.Compare)
		*a = slices.Compact(*a)
	}
	slices.Sort(m.ports)
	m.ports = slices.Compact(m.ports)
}

func (m *mentioned) rule(r *Rule) {
	for _, s := range r.from {
		m.srcIPs = addrsOf(m.srcIPs, &s.ips)
		m.remote = append(m.remote, addrStrings(&s.remoteIPs)...)
		m.jwts = append(m.jwts, principalSamples(&s.requestPrincipals)...)
	}
	for _, o := range r.to {
		m.ports = portsOf(m.ports, &o.ports)
		m.methods = append(m.methods, samples(&o.methods)...)
		m.paths = append(m.paths, samples(&o.paths)...)
		for _, h := range samples(&o.hosts) {
			m.hosts = append(m.hosts, h, h+":8080")
		}
	}
	for _, c := range r.when {
		m.condition(c)
	}
}

func (m *mentioned) condition(c *condition) {
	switch c.key {
	case keySourceIP:
		m.srcIPs = addrsOf(m.srcIPs, &c.ip)
	case keyDestinationIP:
		m.dstIPs = addrsOf(m.dstIPs, &c.ip)
	case keyDestinationPort:
		m.ports = portsOf(m.ports, &c.port)
	case keyRemoteIP:
		m.remote = append(m.remote, addrStrings(&c.ip)...)
	case keyRequestPrincipal:
		m.jwts = append(m.jwts, principalSamples(&c.jwt)...)
	case keyHeader:
		if m.headers == nil {
			m.headers = map[string][]string{}
		}
		m.headers[c.header] = append(m.headers[c.header], samples(&c.str)...)
	case keyHost:
		m.hosts = append(m.hosts, samples(&c.str)...)
	case keyMethod:
		m.methods = append(m.methods, samples(&c.str)...)
	case keyPath:
		m.paths = append(m.paths, samples(&c.str)...)
	case keySNI:
		m.sni = append(m.sni, samples(&c.str)...)
	}
}

// combine calls emit with combinations of the mentioned values (and a few
// of no rule's), every one if there are at most limit, else limit of them
// spread over all; i numbers the combination.
func (m *mentioned) combine(limit int, emit func(q Request, i int)) {
	names := make([]string, 0, len(m.headers))
	for h := range m.headers {
		names = append(names, h)
	}
	slices.Sort(names)
	dims := [][]string{
		dedup(append([]string{"GET", "POST", "DELETE"}, m.methods...)),
		dedup(append([]string{"/", "/admin"}, m.paths...)),
		dedup(append([]string{"", "orders.shop"}, m.hosts...)),
		dedup(append([]string{""}, m.jwts...)),
		dedup(append([]string{""}, m.remote...)),
		dedup(append([]string{""}, m.sni...)),
	}
	for _, h := range names {
		dims = append(dims, dedup(append([]string{""}, m.headers[h]...)))
	}
	total := 1
	for _, d := range dims {
		total = min(total*len(d), 1<<40)
	}
	step := 1
	if total > limit {
		step = total/limit | 1
	}
	for i, n := 0, 0; i < total && n < limit; i, n = i+step, n+1 {
		v, rest := make([]string, len(dims)), i
		for k, d := range dims {
			v[k], rest = d[rest%len(d)], rest/len(d)
		}
		q := Request{Method: v[0], Path: v[1], Host: v[2], RequestPrincipal: v[3], RemoteAddress: v[4], SNI: v[5]}
		for k, h := range names {
			if v[6+k] != "" {
				if q.Headers == nil {
					q.Headers = map[string]string{}
				}
				q.Headers[h] = v[6+k]
			}
		}
		emit(q, n)
	}
}

func dedup(vs []string) []string {
	slices.Sort(vs)
	return slices.Compact(vs)
}

// samples are a value of each of the field's values and not-values.
func samples(f *strField) []string {
	var out []string
	for _, m := range append(append([]strMatch{}, f.pos...), f.neg...) {
		out = append(out, sample(m))
	}
	return out
}

func principalSamples(f *principalField) []string {
	var out []string
	for _, pm := range append(append([]principalMatch{}, f.pos...), f.neg...) {
		out = append(out, samplePrincipal(pm))
	}
	return out
}

func addrsOf(into []netip.Addr, f *ipField) []netip.Addr {
	for _, p := range append(append([]netip.Prefix{}, f.pos...), f.neg...) {
		into = append(into, p.Addr())
	}
	return into
}

func addrStrings(f *ipField) []string {
	var out []string
	for _, a := range addrsOf(nil, f) {
		out = append(out, a.String())
	}
	return out
}

func portsOf(into []uint32, f *portField) []uint32 {
	for _, m := range []map[uint32]bool{f.pos, f.neg} {
		for p := range m {
			into = append(into, p)
		}
	}
	return into
}

func sourceAddrs(src Peer, mentioned []netip.Addr) []string {
	addrs := src.Addresses
	out := []string{}
	if len(addrs) == 0 {
		addrs = append([]netip.Addr{netip.MustParseAddr("127.0.0.9")}, mentioned...)
		out = append(out, "")
	}
	for _, a := range addrs {
		out = append(out, netip.AddrPortFrom(a, 4000).String())
	}
	return out
}

func destAddrs(dst Workload, ips []netip.Addr, ports []uint32) []string {
	known := dst.Addresses
	if len(known) == 0 {
		known = []netip.AddrPort{{}}
	}
	var out []string
	for _, ap := range known {
		addrs, ps := []netip.Addr{netip.MustParseAddr("127.0.0.1")}, []uint32{8080}
		if !ap.Addr().IsValid() {
			addrs = append(addrs, ips...)
		} else {
			addrs = []netip.Addr{ap.Addr()}
		}
		if ap.Port() == 0 {
			ps = append(ps, ports...)
		} else {
			ps = []uint32{uint32(ap.Port())}
		}
		for _, a := range addrs {
			for _, p := range ps {
				out = append(out, netip.AddrPortFrom(a, uint16(p)).String())
			}
		}
	}
	return out
}

// witnesses are requests built to match the rule, one per operation.
func witnesses(r *Rule) []*Request {
	base := &Request{Method: "GET", Path: "/", Headers: map[string]string{}}
	for _, s := range r.from[:min(1, len(r.from))] {
		if len(s.requestPrincipals.pos) > 0 {
			base.RequestPrincipal = samplePrincipal(s.requestPrincipals.pos[0])
		}
		if len(s.remoteIPs.pos) > 0 {
			base.RemoteAddress = s.remoteIPs.pos[0].Addr().String()
		}
	}
	for _, c := range r.when {
		c.witness(base)
	}
	if len(r.to) == 0 {
		return []*Request{base}
	}
	var out []*Request
	for _, o := range r.to {
		q := *base
		q.Headers = base.Headers
		firstSample(&o.methods, &q.Method)
		firstSample(&o.paths, &q.Path)
		firstSample(&o.hosts, &q.Host)
		out = append(out, &q)
	}
	return out
}

func (c *condition) witness(q *Request) {
	switch c.key {
	case keyHeader:
		if len(c.str.pos) > 0 {
			q.Headers[c.header] = sample(c.str.pos[0])
		}
	case keyHost:
		firstSample(&c.str, &q.Host)
	case keyMethod:
		firstSample(&c.str, &q.Method)
	case keyPath:
		firstSample(&c.str, &q.Path)
	case keySNI:
		firstSample(&c.str, &q.SNI)
	case keyRemoteIP:
		if len(c.ip.pos) > 0 {
			q.RemoteAddress = c.ip.pos[0].Addr().String()
		}
	case keyRequestPrincipal:
		if len(c.jwt.pos) > 0 {
			q.RequestPrincipal = samplePrincipal(c.jwt.pos[0])
		}
	}
}

func firstSample(f *strField, into *string) {
	if len(f.pos) > 0 {
		*into = sample(f.pos[0])
	}
}

// sample is a value m matches.
func sample(m strMatch) string {
	switch m.kind {
	case prefix:
		return m.value + "z"
	case suffix:
		return "z" + m.value
	case presence:
		return "z"
	case template:
		return strings.NewReplacer("{**}", "z/z", "{*}", "z").Replace(m.value)
	case glob:
		return strings.ReplaceAll(m.value, "*", "z")
	}
	return m.value
}

func samplePrincipal(pm principalMatch) string {
	return sample(pm.iss) + "/" + sample(pm.sub)
}

// checkConsistent: when Reachable says no, Evaluate denies every request of
// the battery. It returns the first request Evaluate allows, if any.
func checkConsistent(t testing.TB, s *Set, src Peer, dst Workload, got Reach, maxCombos int) *Request {
	t.Helper()
	var allowed *Request
	for _, q := range battery(s, src, dst, maxCombos) {
		res := s.Evaluate(q)
		if !res.Allow {
			continue
		}
		if !got.Reachable {
			t.Fatalf("Reachable(%s, %s) = %v, but Evaluate allows %s (%s)", src.Principal, dst.ID, got, describe(q), ruleName(res.Rule))
		}
		if allowed == nil {
			allowed = q
		}
	}
	return allowed
}

func describe(q *Request) string {
	return fmt.Sprintf("%s %s host=%q from %s to %s headers=%v jwt=%q remote=%q sni=%q",
		q.Method, q.Path, q.Host, q.SourceAddress, q.DestinationAddress, q.Headers, q.RequestPrincipal, q.RemoteAddress, q.SNI)
}

func ruleName(r *Rule) string {
	if r == nil {
		return "no rule"
	}
	return r.Name()
}
