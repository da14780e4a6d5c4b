package catalog

import (
	"errors"
	"fmt"
	"slices"
)

// WithRotations returns a new catalog in which each rotation's service
// moves through the rotation's pools by its schedule, in place of the
// catalog's own ports, portRange, addresses and rotation. The receiver is
// left as it is: a reload applies the whole new set of rotations to the
// catalog as loaded, so a rotation taken away gives its service back its
// catalog pools. Nothing is applied unless all of it is: every rotation
// names a service of its own namespace, at most one rotation per service,
// and no two services may then ever hold one address:port.
func (c *Catalog) WithRotations(rs []Rotation) (*Catalog, error) {
	a := c.applying()
	var errs []error
	for _, r := range rs {
		if err := a.add(r); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var err error
	if a.out.reaches, err = ownedOnce(a.out.Services, a.where); err != nil {
		return nil, err
	}
	return a.out, nil
}

// applying is a catalog being given its rotations.
type applying struct {
	base, out    *Catalog
	where        []string // where each service's pools were given
	index        map[string]int
	taken, named map[string]Rotation // by service, by the rotation's namespace/name
}

func (c *Catalog) applying() *applying {
	a := &applying{base: c, out: &Catalog{Services: slices.Clone(c.Services), file: c.file},
		where: make([]string, len(c.Services)), index: make(map[string]int, len(c.Services)),
		taken: map[string]Rotation{}, named: map[string]Rotation{}}
	for i, s := range c.Services {
		a.where[i], a.index[s.Name] = c.where(s), i
	}
	return a
}

func (a *applying) add(r Rotation) error {
	if prev, dup := a.named[r.id()]; dup {
		return fmt.Errorf("%s: %s is already defined at %s", r.Source, r.id(), prev.Source)
	}
	a.named[r.id()] = r
	i, err := a.target(r)
	if err != nil {
		return err
	}
	if a.out.Services[i], err = r.applyTo(a.out.Services[i]); err != nil {
		return err
	}
	a.taken[r.Service], a.where[i] = r, r.Source
	return nil
}

// target is the index of the service r may move.
func (a *applying) target(r Rotation) (int, error) {
	c := a.base
	i, ok := a.index[r.Service]
	if !ok {
		return 0, fmt.Errorf("%s: %s: service %q is not in the catalog %s", r.Source, r.id(), r.Service, c.file)
	}
	s := c.Services[i]
	if prev, dup := a.taken[r.Service]; dup {
		return 0, fmt.Errorf("%s: %s: service %q is already moved by %s (%s)", r.Source, r.id(), r.Service, prev.id(), prev.Source)
	}
	// Whoever may write rotations in one namespace must not move, slow or
	// speed up another namespace's services.
	if s.Namespace != r.Namespace {
		return 0, fmt.Errorf("%s: %s: service %q (%s) is of namespace %q: a rotation moves only services of its own namespace",
			r.Source, r.id(), r.Service, c.where(s), s.Namespace)
	}
	return i, nil
}

// applyTo is s moving through r's pools by r's schedule.
func (r Rotation) applyTo(s Service) (Service, error) {
	s.Ports, s.Addresses = slices.Clone(r.Ports), slices.Clone(r.Addresses)
	s.PortRange, s.Rotation = nil, nil
	if r.PortRange != nil {
		pr := *r.PortRange
		s.PortRange = &pr
	}
	if r.Schedule != nil {
		sc := *r.Schedule
		sc.Blackouts = slices.Clone(sc.Blackouts)
		s.Rotation = &sc
	}
	if err := s.validatePools(); err != nil {
		return s, fmt.Errorf("%s: %s: service %q: %v", r.Source, r.id(), s.Name, err)
	}
	return s, nil
}

func (r Rotation) id() string {
	if r.Namespace == "" {
		return "MeshwardRotation " + r.Name
	}
	return "MeshwardRotation " + r.Namespace + "/" + r.Name
}

func (c *Catalog) where(s Service) string {
	return fmt.Sprintf("%s:%d", c.file, s.Line)
}

// ownedOnce refuses services of which two could ever hold the same
// address:port (a move there would send one's clients to the other), naming
// where each one's pools were given (file:line).
func ownedOnce(services []Service, where []string) ([]reach, error) {
	reaches := make([]reach, len(services))
	for i, s := range services {
		reaches[i] = reachOf(s)
		for j := range i {
			if ap, ok := reaches[i].overlap(reaches[j]); ok {
				return nil, fmt.Errorf("%s: service %q may be on %s, which service %q (%s) may also hold",
					where[i], s.Name, ap, services[j].Name, where[j])
			}
		}
	}
	return reaches, nil
}
