package recon

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Bounds of nmap's XML report, which is read as hostile input: its size,
// its nesting, and the open sockets it may list.
const (
	MaxNmapOutput = 8 << 20
	maxXMLDepth   = 32
	maxOpen       = 1 << 16 // per host: one per port
)

// ParseNmapXML reads nmap's -oX report and returns the open TCP sockets it
// lists, sorted. It reads token by token and keeps only open sockets, so
// memory stays bounded by MaxNmapOutput's stream, not by what the report
// repeats. Every host must have exactly one IPv4 address, on loopback;
// every port must be 1 to 65535; a report whose run did not finish with
// success is an error. Errors name the byte offset and the host.
func ParseNmapXML(r io.Reader) ([]netip.AddrPort, error) {
	lr := &io.LimitedReader{R: r, N: MaxNmapOutput + 1}
	d := xml.NewDecoder(lr)
	p := &nmapParser{}
	for {
		tok, err := d.Token()
		if lr.N <= 0 {
			return nil, fmt.Errorf("recon: nmap's report is over %d bytes", MaxNmapOutput)
		}
		if err == io.EOF {
			break
		}
		if err == nil {
			err = p.token(tok)
		}
		if err != nil {
			return nil, fmt.Errorf("recon: nmap's report at byte %d: %w", d.InputOffset(), err)
		}
	}
	if err := p.done(); err != nil {
		return nil, fmt.Errorf("recon: nmap's report: %w", err)
	}
	sortSockets(p.out)
	return p.out, nil
}

type nmapParser struct {
	path     []string // local names of the open elements
	rooted   bool
	hosts    int
	host     *nmapHost
	port     *nmapPort
	finished bool
	out      []netip.AddrPort
}

type nmapHost struct {
	addrs []netip.Addr
	open  []uint16
}

type nmapPort struct {
	tcp   bool
	id    uint16
	state string
}

func (p *nmapParser) token(tok xml.Token) error {
	switch t := tok.(type) {
	case xml.StartElement:
		if len(p.path) == 0 && p.rooted {
			return errors.New("a second root element")
		}
		p.path = append(p.path, t.Name.Local)
		if len(p.path) > maxXMLDepth {
			return fmt.Errorf("elements nested over %d deep", maxXMLDepth)
		}
		p.rooted = true
		return p.start(t)
	case xml.EndElement:
		err := p.end()
		p.path = p.path[:len(p.path)-1]
		return err
	}
	return nil
}

func (p *nmapParser) at(path string) bool { return strings.Join(p.path, "/") == path }

func (p *nmapParser) start(t xml.StartElement) error {
	switch {
	case len(p.path) == 1 && t.Name.Local != "nmaprun":
		return fmt.Errorf("root element <%s>, want <nmaprun>", t.Name.Local)
	case p.at("nmaprun/host"):
		p.hosts++
		p.host = &nmapHost{}
	case p.at("nmaprun/host/address"):
		return p.address(t)
	case p.at("nmaprun/host/ports/port"):
		return p.startPort(t)
	case p.at("nmaprun/host/ports/port/state") && p.port != nil:
		p.port.state = attr(t, "state")
	case p.at("nmaprun/runstats/finished"):
		if exit := attr(t, "exit"); exit != "success" {
			return fmt.Errorf("nmap's run ended with exit=%q: %q", exit, attr(t, "errormsg"))
		}
		p.finished = true
	}
	return nil
}

func (p *nmapParser) address(t xml.StartElement) error {
	if attr(t, "addrtype") != "ipv4" {
		return nil
	}
	ip, err := netip.ParseAddr(attr(t, "addr"))
	if err != nil {
		return fmt.Errorf("host %d: address %q: %w", p.hosts, attr(t, "addr"), err)
	}
	if err := CheckTarget(ip); err != nil {
		return fmt.Errorf("host %d: %w", p.hosts, err)
	}
	p.host.addrs = append(p.host.addrs, ip)
	if len(p.host.addrs) > 1 {
		return fmt.Errorf("host %d: more than one IPv4 address", p.hosts)
	}
	return nil
}

func (p *nmapParser) startPort(t xml.StartElement) error {
	id := attr(t, "portid")
	n, err := strconv.ParseUint(id, 10, 16)
	if err != nil || n == 0 {
		return fmt.Errorf("host %d: portid %q is not a port", p.hosts, id)
	}
	p.port = &nmapPort{tcp: attr(t, "protocol") == "tcp", id: uint16(n)}
	return nil
}

func (p *nmapParser) end() error {
	switch {
	case p.at("nmaprun/host/ports/port"):
		if p.port.tcp && p.port.state == "open" {
			if len(p.host.open) >= maxOpen {
				return fmt.Errorf("host %d: over %d open ports", p.hosts, maxOpen)
			}
			p.host.open = append(p.host.open, p.port.id)
		}
		p.port = nil
	case p.at("nmaprun/host"):
		h := p.host
		p.host = nil
		if len(h.addrs) != 1 {
			return fmt.Errorf("host %d: no IPv4 address", p.hosts)
		}
		if len(p.out)+len(h.open) > MaxProbes {
			return fmt.Errorf("host %d: over %d open sockets in all", p.hosts, MaxProbes)
		}
		for _, port := range h.open {
			p.out = append(p.out, netip.AddrPortFrom(h.addrs[0], port))
		}
	}
	return nil
}

func (p *nmapParser) done() error {
	switch {
	case !p.rooted:
		return errors.New("no <nmaprun> element")
	case !p.finished:
		return errors.New("it ends before its run finished (no runstats/finished)")
	}
	return nil
}

func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}
