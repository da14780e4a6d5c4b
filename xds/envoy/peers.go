package envoy

import (
	"fmt"
	"strconv"
)

// hosts are the peer's :authority hosts, its service name by default.
func (p *Peer) hosts() []string {
	if len(p.Hosts) == 0 {
		return []string{p.Service}
	}
	return p.Hosts
}

// domains are what the outbound route matches: each host bare and with the
// service port, and nothing else (no wildcard reaches an unlisted service).
func (p *Peer) domains() []string {
	hosts := p.hosts()
	out := make([]string, 0, 2*len(hosts))
	port := ":" + strconv.FormatUint(uint64(p.Port), 10)
	for _, h := range hosts {
		out = append(out, h, h+port)
	}
	return out
}

func (s *Sidecar) validatePeers() error {
	if len(s.Calls) > MaxPeers {
		return fieldErr("Calls", fmt.Errorf("%d peers, at most %d", len(s.Calls), MaxPeers))
	}
	services := make(map[string]int, len(s.Calls))
	// Envoy refuses a route configuration in which two virtual hosts share a
	// domain; the build must not make one.
	hosts := make(map[string]string)
	for i := range s.Calls {
		p := &s.Calls[i]
		field := fmt.Sprintf("Calls[%d]", i)
		if err := checkService(p.Service); err != nil {
			return fieldErr(field+".Service", err)
		}
		if j, dup := services[p.Service]; dup {
			return fieldErr(field+".Service", fmt.Errorf("%q is also Calls[%d]", p.Service, j))
		}
		services[p.Service] = i
		field = fmt.Sprintf("Calls[%d] (%s)", i, p.Service)
		if err := checkSPIFFE(p.Identity); err != nil {
			return fieldErr(field+".Identity", err)
		}
		if p.Port == 0 || p.Port > 65535 {
			return fieldErr(field+".Port", fmt.Errorf("%d out of range 1-65535", p.Port))
		}
		if err := p.validateHosts(field, hosts); err != nil {
			return err
		}
		if len(p.Endpoints) > MaxEndpoints {
			return fieldErr(field+".Endpoints", fmt.Errorf("%d endpoints, at most %d", len(p.Endpoints), MaxEndpoints))
		}
		if err := checkEndpoints(field+".Endpoints", p.Endpoints); err != nil {
			return err
		}
	}
	return nil
}

func (p *Peer) validateHosts(field string, taken map[string]string) error {
	if len(p.Hosts) > MaxHostsPerPeer {
		return fieldErr(field+".Hosts", fmt.Errorf("%d hosts, at most %d", len(p.Hosts), MaxHostsPerPeer))
	}
	for j, h := range p.hosts() {
		if len(h) > 253 || !hostRE.MatchString(h) {
			return fieldErr(fmt.Sprintf("%s.Hosts[%d]", field, j),
				fmt.Errorf("%q: want a lower-case DNS name without port or wildcard", h))
		}
		if other, dup := taken[h]; dup {
			return fieldErr(fmt.Sprintf("%s.Hosts[%d]", field, j), fmt.Errorf("%q is also a host of %s", h, other))
		}
		taken[h] = p.Service
	}
	return nil
}
