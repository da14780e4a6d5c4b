package recon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
)

// ErrNoNmap says nmap is not installed.
var ErrNoNmap = errors.New("nmap is not installed: apt-get install nmap (Debian's package; `make bench-recon` installs it as root)")

// Nmap runs nmap's TCP connect scan (-sT: no raw sockets, the same
// handshake Connect makes) with host discovery and DNS off.
type Nmap struct {
	Path string // the nmap binary (default: nmap on PATH)
}

// Name is what reports call it.
func (Nmap) Name() string { return "nmap" }

// FindNmap is the nmap on PATH, or ErrNoNmap.
func FindNmap() (Nmap, error) {
	p, err := exec.LookPath("nmap")
	if err != nil {
		return Nmap{}, ErrNoNmap
	}
	return Nmap{Path: p}, nil
}

// Scan runs `nmap -sT -Pn -n -p <ports> --open -oX - <addresses>` and
// returns the open sockets it reports, sorted.
func (n Nmap) Scan(ctx context.Context, addrs []netip.Addr, ports []uint16) ([]netip.AddrPort, error) {
	asked, err := Sockets(addrs, ports)
	if err != nil {
		return nil, err
	}
	args := []string{"-sT", "-Pn", "-n", "-p", PortList(ports), "--open", "-oX", "-"}
	for _, a := range addrs {
		args = append(args, a.String())
	}
	path := n.Path
	if path == "" {
		path = "nmap"
	}
	var out, errOut boundedBuffer
	out.max, errOut.max = MaxNmapOutput, 4096
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, ErrNoNmap
		}
		return nil, fmt.Errorf("recon: nmap: %w: %s", err, strings.TrimSpace(errOut.String()))
	}
	found, err := ParseNmapXML(bytes.NewReader(out.Bytes()))
	if err != nil {
		return nil, err
	}
	return within(found, asked)
}

// Probe returns those of socks that nmap finds open, in one run over their
// addresses and ports.
func (n Nmap) Probe(ctx context.Context, socks []netip.AddrPort) ([]netip.AddrPort, error) {
	if err := checkSockets(socks); err != nil {
		return nil, err
	}
	if len(socks) == 0 {
		return nil, nil
	}
	var addrs []netip.Addr
	var ports []uint16
	seenA, seenP := map[netip.Addr]bool{}, map[uint16]bool{}
	for _, s := range socks {
		if !seenA[s.Addr()] {
			seenA[s.Addr()] = true
			addrs = append(addrs, s.Addr())
		}
		if !seenP[s.Port()] {
			seenP[s.Port()] = true
			ports = append(ports, s.Port())
		}
	}
	open, err := n.Scan(ctx, addrs, ports)
	if err != nil {
		return nil, err
	}
	want := map[netip.AddrPort]bool{}
	for _, s := range socks {
		want[s] = true
	}
	var out []netip.AddrPort
	for _, s := range open {
		if want[s] {
			out = append(out, s)
		}
	}
	return out, nil
}

// within refuses a report naming a socket that was not asked about: output
// that does not match its question is not trusted.
func within(found, asked []netip.AddrPort) ([]netip.AddrPort, error) {
	ok := make(map[netip.AddrPort]bool, len(asked))
	for _, s := range asked {
		ok[s] = true
	}
	for _, s := range found {
		if !ok[s] {
			return nil, fmt.Errorf("recon: nmap reported %v, which was not a target", s)
		}
	}
	return found, nil
}

// boundedBuffer keeps at most max bytes and fails the write after that,
// which ends the copy from the child's output.
type boundedBuffer struct {
	bytes.Buffer
	max int
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, fmt.Errorf("recon: nmap wrote more than %d bytes", b.max)
	}
	return b.Buffer.Write(p)
}
