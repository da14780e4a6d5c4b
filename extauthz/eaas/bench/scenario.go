package bench

import (
	"context"
	"fmt"
	"strings"

	"github.com/meshward/meshward/extauthz/eaas/coordinator"
	"github.com/meshward/meshward/extauthz/eaas/keystore"
	"github.com/meshward/meshward/extauthz/eaas/registrar"
	"github.com/meshward/meshward/extauthz/eaas/roles"
	"github.com/meshward/meshward/extauthz/eaas/subscriber"
	"github.com/meshward/meshward/internal/identity"
)

// Scenario names (the seed's replica scenarios).
const (
	Alpha  = "α"
	Beta   = "β"
	Lambda = "λ"
)

// Scenarios lists them in the order they are reported.
var Scenarios = []string{Alpha, Beta, Lambda}

// Target is a registered subscriber a load can use: two of its members and
// where the coordinator the registrar assigned it listens.
type Target struct {
	Subscriber  uint32
	Cipher      string
	Coordinator string
	URL         string
	A, B        string // SPIFFE IDs of the two members
	// C is the coordinator itself, for measurements without a transport.
	C *coordinator.Coordinator
}

type coordRef struct {
	url string
	c   *coordinator.Coordinator
}

// Scenario is one deployment of the roles.
type Scenario struct {
	Name     string
	Replicas int // processes the scenario stands for
	reg      *registrar.Registrar
	coords   map[string]coordRef // by coordinator id
}

// Start runs the replicas of the scenario named name.
func Start(m *Mesh, name string) (*Scenario, error) {
	switch name {
	case Alpha:
		return startAlpha(m)
	case Beta:
		return startReplicas(m, Beta, "beta", 1, 2, 2)
	case Lambda:
		return startReplicas(m, Lambda, "lambda", 5, 5, 5)
	}
	return nil, fmt.Errorf("scenario %q: want one of %s", name, strings.Join(Scenarios, ", "))
}

// startAlpha runs every role in one process: no gRPC hop between roles.
func startAlpha(m *Mesh) (*Scenario, error) {
	r, err := m.start("alpha-0", roles.All, keystore.NewMemory(), nil)
	if err != nil {
		return nil, err
	}
	url, err := m.serveRequesters(r)
	if err != nil {
		return nil, err
	}
	return &Scenario{Name: Alpha, Replicas: 1, reg: r.Registrar,
		coords: map[string]coordRef{r.Coordinator.ID(): {url, r.Coordinator}}}, nil
}

// startReplicas runs each role as its own replicas: every coordinator uses
// every key manager and cryptor, the key managers share one key store (in a
// cluster, etcd), and the first coordinator also runs the registrar, which
// reaches the others over gRPC.
// Replicas are named in ASCII (prefix): a coordinator's id travels in
// enrolments.
func startReplicas(m *Mesh, name, prefix string, nCoord, nKeys, nCrypt int) (*Scenario, error) {
	keys := keystore.NewMemory()
	var kms, crs []string
	for i := range nKeys {
		r, err := m.start(fmt.Sprintf("%s-km-%d", prefix, i), []string{roles.KeyManager}, keys, nil)
		if err != nil {
			return nil, err
		}
		kms = append(kms, r.Addr.String())
	}
	for i := range nCrypt {
		r, err := m.start(fmt.Sprintf("%s-cr-%d", prefix, i), []string{roles.Cryptor}, nil, nil)
		if err != nil {
			return nil, err
		}
		crs = append(crs, r.Addr.String())
	}
	s := &Scenario{Name: name, Replicas: nCoord + nKeys + nCrypt, coords: map[string]coordRef{}}
	var others []string
	for i := nCoord - 1; i >= 0; i-- {
		rs := []string{roles.Coordinator}
		if i == 0 {
			rs = append(rs, roles.Registrar)
		}
		r, err := m.start(fmt.Sprintf("%s-co-%d", prefix, i), rs, keystore.NewMemory(), func(c *roles.Config) {
			c.KeyManagers, c.Cryptors, c.Coordinators = kms, crs, others
		})
		if err != nil {
			return nil, err
		}
		url, err := m.serveRequesters(r)
		if err != nil {
			return nil, err
		}
		s.coords[r.Coordinator.ID()] = coordRef{url, r.Coordinator}
		others, s.reg = append(others, r.Addr.String()), r.Registrar
	}
	return s, nil
}

// Register registers subscriber id with two members (a and b, in a
// namespace of its own) and the cipher, and says where it landed.
func (s *Scenario) Register(ctx context.Context, id uint32, deception uint8, cipher string) (Target, error) {
	ns := fmt.Sprintf("bench-%d", id)
	a, b := identity.SPIFFE(ns, "a"), identity.SPIFFE(ns, "b")
	sub, err := s.reg.Register(ctx, registrar.Registration{Subscriber: id, Deception: deception, Cipher: cipher,
		Members: []subscriber.Member{{Principal: principal(a), Hosts: []string{"a." + ns}},
			{Principal: principal(b), Hosts: []string{"b." + ns}}}})
	if err != nil {
		return Target{}, fmt.Errorf("scenario %s: %w", s.Name, err)
	}
	ref, ok := s.coords[sub.Coordinator]
	if !ok {
		return Target{}, fmt.Errorf("scenario %s: subscriber %d went to unknown coordinator %q", s.Name, id, sub.Coordinator)
	}
	return Target{Subscriber: id, Cipher: sub.Cipher, Coordinator: sub.Coordinator, URL: ref.url, A: a, B: b, C: ref.c}, nil
}

// Coordinators is how many coordinators the scenario has.
func (s *Scenario) Coordinators() int { return len(s.coords) }

// principal is a SPIFFE ID without its scheme, as members are named.
func principal(id string) string { return strings.TrimPrefix(id, "spiffe://") }
