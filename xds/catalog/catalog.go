// Package catalog reads the static service catalog the xDS server starts
// from: each service, where its endpoints are, and which ports it may rotate
// through.
package catalog

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/meshward/meshward/internal/yamlstrict"
)

// Catalog is the set of services. Make one with Parse or Load.
type Catalog struct {
	Services []Service `yaml:"services"`
	owners   map[socket]string
}

// Service is one xDS service: grpc-go clients reach it as xds:///<Name>.
type Service struct {
	Name      string     `yaml:"name"`
	Endpoints []Endpoint `yaml:"endpoints"`
	// Ports are where the service may be moved to; the endpoints' current
	// ports need not be listed.
	Ports []uint32 `yaml:"ports"`
	Line  int      `yaml:"-"`
}

// Endpoint is one address:port.
type Endpoint struct {
	Address string `yaml:"address"`
	Port    uint32 `yaml:"port"`
}

// String is address:port.
func (e Endpoint) String() string { return fmt.Sprintf("%s:%d", e.Address, e.Port) }

// The name becomes a listener, route, cluster and URI host: DNS-label-ish.
var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$`)

// Limits on what a catalog may hold: the parser's memory stays bounded.
const (
	MaxFileBytes = 4 << 20
	MaxPoolPorts = 4096
)

// Load reads a catalog file.
func Load(path string) (*Catalog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, MaxFileBytes)
	}
	return Parse(path, data)
}

// Parse decodes and validates catalog YAML; errors say name:line: what.
func Parse(name string, data []byte) (*Catalog, error) {
	var doc struct {
		Services []yaml.Node `yaml:"services"`
	}
	if err := yamlstrict.Decode(data, &doc); err != nil {
		if errors.Is(err, yamlstrict.ErrEmpty) {
			return nil, fmt.Errorf("%s: empty catalog; want a top-level \"services\" list", name)
		}
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	c := &Catalog{}
	seen := map[string]int{}
	for i := range doc.Services {
		n := &doc.Services[i]
		s, err := decodeService(n)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, n.Line, err)
		}
		if prev, dup := seen[s.Name]; dup {
			return nil, fmt.Errorf("%s:%d: service %q is already defined at line %d", name, n.Line, s.Name, prev)
		}
		seen[s.Name] = n.Line
		c.Services = append(c.Services, s)
	}
	if len(c.Services) == 0 {
		return nil, fmt.Errorf("%s: no services", name)
	}
	var err error
	if c.owners, err = index(c.Services); err != nil {
		return nil, fmt.Errorf("%s:%v", name, err)
	}
	return c, nil
}

func decodeService(n *yaml.Node) (Service, error) {
	var s Service
	if err := yamlstrict.DecodeNode(n, &s); err != nil {
		return s, err
	}
	s.Line = n.Line
	if !nameRE.MatchString(s.Name) {
		return s, fmt.Errorf("service name %q: want lower-case letters, digits, '.' and '-'", s.Name)
	}
	if len(s.Endpoints) == 0 {
		return s, fmt.Errorf("service %q has no endpoints", s.Name)
	}
	for i, e := range s.Endpoints {
		if err := validateEndpoint(e); err != nil {
			return s, fmt.Errorf("service %q endpoint %d: %v", s.Name, i, err)
		}
	}
	if len(s.Ports) > MaxPoolPorts {
		return s, fmt.Errorf("service %q: %d pool ports, want at most %d", s.Name, len(s.Ports), MaxPoolPorts)
	}
	for _, p := range s.Ports {
		if p == 0 || p > 65535 {
			return s, fmt.Errorf("service %q: port %d out of range", s.Name, p)
		}
	}
	return s, nil
}

func validateEndpoint(e Endpoint) error {
	ip, err := netip.ParseAddr(e.Address)
	if err != nil {
		return fmt.Errorf("address %q is not an IP address", e.Address)
	}
	if !ip.IsLoopback() && !ip.IsPrivate() && !ip.IsGlobalUnicast() {
		return fmt.Errorf("address %q is not a unicast address", e.Address)
	}
	if e.Port == 0 || e.Port > 65535 {
		return fmt.Errorf("port %d out of range", e.Port)
	}
	return nil
}

// InPool reports whether port is one of the service's pool ports.
func (s Service) InPool(port uint32) bool {
	return slices.Contains(s.Ports, port)
}

// Lookup returns the named service.
func (c *Catalog) Lookup(name string) (Service, bool) {
	for _, s := range c.Services {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}
