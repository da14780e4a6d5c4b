// Package catalog reads the static service catalog the xDS server starts
// from: each service, where its endpoints are, and which ports it may rotate
// through.
package catalog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/meshward/meshward/internal/yamlstrict"
)

// Catalog is the set of services. Make one with Parse or Load.
type Catalog struct {
	Services []Service `yaml:"services"`
	reaches  []reach
	file     string // where it was read from, for errors naming both it and a rotation
}

// Service is one xDS service: grpc-go clients reach it as xds:///<Name>.
type Service struct {
	Name string `yaml:"name"`
	// Identity is the SPIFFE ID of the workload behind the service, and
	// Namespace and Labels what selects its policies: with them the
	// server tells each node only what its policy lets it call.
	Identity  string            `yaml:"identity"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
	// Port is the service port callers name (host:port): it never rotates,
	// only the endpoints' ports do (default: the first endpoint's port).
	// Hosts are the names callers use (default: the service's name).
	Port      uint32     `yaml:"port"`
	Hosts     []string   `yaml:"hosts"`
	Endpoints []Endpoint `yaml:"endpoints"`
	// Ports are where the service may be moved to; the endpoints' current
	// ports need not be listed. PortRange adds a range of them.
	Ports     []uint32   `yaml:"ports"`
	PortRange *PortRange `yaml:"portRange"`
	// Addresses are where the endpoints may be moved to (each endpoint to
	// its own); empty: the endpoints keep their addresses.
	Addresses []string `yaml:"addresses"`
	// Rotation is when the service moves by itself; nil: only when told
	// (an operator or an event).
	Rotation *Schedule `yaml:"rotation"`
	Line     int       `yaml:"-"`
}

// PortRange is the ports From to To, both included.
type PortRange struct {
	From uint32 `yaml:"from"`
	To   uint32 `yaml:"to"`
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
	MaxFileBytes     = 4 << 20
	MaxPoolPorts     = 4096
	MaxPoolAddresses = 4096
	MaxServices      = 4096
	maxLabels        = 64
	maxHosts         = 64
)

var hostRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)

// Load reads a catalog file.
func Load(path string) (*Catalog, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// readBounded reads a file of at most MaxFileBytes.
func readBounded(path string) ([]byte, error) {
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
	return data, nil
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
	c := &Catalog{file: name}
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
	if len(c.Services) > MaxServices {
		return nil, fmt.Errorf("%s: %d services, at most %d", name, len(c.Services), MaxServices)
	}
	where := make([]string, len(c.Services))
	for i, s := range c.Services {
		where[i] = c.where(s)
	}
	var err error
	if c.reaches, err = ownedOnce(c.Services, where); err != nil {
		return nil, err
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
	if err := s.validateWorkload(); err != nil {
		return s, fmt.Errorf("service %q: %v", s.Name, err)
	}
	if len(s.Endpoints) == 0 {
		return s, fmt.Errorf("service %q has no endpoints", s.Name)
	}
	for i, e := range s.Endpoints {
		if err := validateEndpoint(e); err != nil {
			return s, fmt.Errorf("service %q endpoint %d: %v", s.Name, i, err)
		}
	}
	if s.Port == 0 {
		s.Port = s.Endpoints[0].Port
	}
	if s.Port > 65535 {
		return s, fmt.Errorf("service %q: port %d out of range", s.Name, s.Port)
	}
	if len(s.Hosts) == 0 {
		s.Hosts = []string{s.Name}
	}
	if len(s.Hosts) > maxHosts {
		return s, fmt.Errorf("service %q: %d hosts, at most %d", s.Name, len(s.Hosts), maxHosts)
	}
	for _, h := range s.Hosts {
		if !hostRE.MatchString(h) {
			return s, fmt.Errorf("service %q: host %q: want a DNS name", s.Name, h)
		}
	}
	if err := s.validatePools(); err != nil {
		return s, fmt.Errorf("service %q: %v", s.Name, err)
	}
	if s.Rotation != nil {
		if err := s.Rotation.validate(); err != nil {
			return s, fmt.Errorf("service %q rotation: %v", s.Name, err)
		}
	}
	return s, nil
}

// validateWorkload checks what selects the service's policies.
func (s *Service) validateWorkload() error {
	if s.Identity != "" {
		ns, ok := namespaceOf(s.Identity)
		if !ok {
			return fmt.Errorf("identity %q: want spiffe://<trust domain>/ns/<namespace>/sa/<service account>", s.Identity)
		}
		if s.Namespace == "" {
			s.Namespace = ns
		} else if s.Namespace != ns {
			return fmt.Errorf("namespace %q, but the identity's is %q", s.Namespace, ns)
		}
	}
	if len(s.Labels) > maxLabels {
		return fmt.Errorf("%d labels, at most %d", len(s.Labels), maxLabels)
	}
	return nil
}

// namespaceOf is the namespace of a SPIFFE ID in Istio's form.
func namespaceOf(id string) (string, bool) {
	rest, ok := strings.CutPrefix(id, "spiffe://")
	if !ok {
		return "", false
	}
	_, rest, ok = strings.Cut(rest, "/ns/")
	if !ok {
		return "", false
	}
	ns, sa, ok := strings.Cut(rest, "/sa/")
	return ns, ok && ns != "" && sa != "" && !strings.Contains(sa, "/")
}

func validateEndpoint(e Endpoint) error {
	if _, err := parseUnicast(e.Address); err != nil {
		return err
	}
	if e.Port == 0 || e.Port > 65535 {
		return fmt.Errorf("port %d out of range", e.Port)
	}
	return nil
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
