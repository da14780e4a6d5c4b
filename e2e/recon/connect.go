package recon

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Connect is a TCP connect scanner: a socket is open when a connection to
// it completes (as nmap -sT decides).
type Connect struct {
	Concurrency int           // connections in flight at once (default 64)
	Timeout     time.Duration // per connection (default 1 s)
}

// Name is what reports call it.
func (Connect) Name() string { return "connect" }

// Scan tries every port on every address and returns the open sockets,
// sorted.
func (c Connect) Scan(ctx context.Context, addrs []netip.Addr, ports []uint16) ([]netip.AddrPort, error) {
	socks, err := Sockets(addrs, ports)
	if err != nil {
		return nil, err
	}
	return c.Probe(ctx, socks)
}

// Probe returns those of socks that accept a connection, sorted.
func (c Connect) Probe(ctx context.Context, socks []netip.AddrPort) ([]netip.AddrPort, error) {
	if err := checkSockets(socks); err != nil {
		return nil, err
	}
	n := c.Concurrency
	if n <= 0 {
		n = 64
	}
	d := net.Dialer{Timeout: c.Timeout}
	if d.Timeout <= 0 {
		d.Timeout = time.Second
	}
	work := make(chan netip.AddrPort)
	var mu sync.Mutex
	var open []netip.AddrPort
	var wg sync.WaitGroup
	for range min(n, len(socks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				if conn, err := d.DialContext(ctx, "tcp", s.String()); err == nil {
					conn.Close()
					mu.Lock()
					open = append(open, s)
					mu.Unlock()
				}
			}
		}()
	}
	for _, s := range socks {
		if ctx.Err() != nil {
			break
		}
		work <- s
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sortSockets(open)
	return open, nil
}
