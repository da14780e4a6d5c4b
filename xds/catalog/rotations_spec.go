package catalog

import (
	"errors"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	meshwardv1alpha1 "github.com/meshward/meshward/api/meshward/v1alpha1"
)

// NewRotation validates a MeshwardRotation, from a file or from the API,
// with the catalog's own rules for pools and schedules. Source says where
// it came from in errors. Errors name the field: spec.ports[2]: ...
func NewRotation(mr *meshwardv1alpha1.MeshwardRotation, source string) (Rotation, error) {
	if err := checkMeta(&mr.ObjectMeta); err != nil {
		return Rotation{}, err
	}
	sp := &mr.Spec
	r := Rotation{Name: mr.Name, Namespace: mr.Namespace, Service: sp.Service, Source: source}
	if sp.Service == "" {
		return Rotation{}, errAt(spec("service"), "required: the catalog service to move")
	}
	if !nameRE.MatchString(sp.Service) {
		return Rotation{}, errAt(spec("service"), "%q: want a catalog service's name (lower-case letters, digits, '.' and '-')", sp.Service)
	}
	var err error
	if r.Ports, err = poolPorts(sp.Ports); err != nil {
		return Rotation{}, err
	}
	if r.PortRange, err = portRange(sp.PortRange); err != nil {
		return Rotation{}, err
	}
	if r.Addresses, err = poolAddresses(sp.Addresses); err != nil {
		return Rotation{}, err
	}
	if len(r.Ports) == 0 && r.PortRange == nil && len(r.Addresses) == 0 {
		return Rotation{}, errAt(spec(), "no pool: give ports, portRange or addresses to move the service through")
	}
	if r.Schedule, err = schedule(sp); err != nil {
		return Rotation{}, err
	}
	return r, nil
}

func checkMeta(m *metav1.ObjectMeta) error {
	if m.Name == "" {
		return errAt([]any{"metadata", "name"}, "required")
	}
	if errs := validation.IsDNS1123Subdomain(m.Name); len(errs) > 0 {
		return errAt([]any{"metadata", "name"}, "%q: %s", m.Name, errs[0])
	}
	if errs := validation.IsDNS1123Label(m.Namespace); m.Namespace != "" && len(errs) > 0 {
		return errAt([]any{"metadata", "namespace"}, "%q: %s", m.Namespace, errs[0])
	}
	return nil
}

func poolPorts(ps []int32) ([]uint32, error) {
	if len(ps) > MaxPoolPorts {
		return nil, errAt(spec("ports"), "%d ports, at most %d", len(ps), MaxPoolPorts)
	}
	var out []uint32
	for i, p := range ps {
		if p < 1 || p > 65535 {
			return nil, errAt(spec("ports", i), "port %d out of range (1 to 65535)", p)
		}
		out = append(out, uint32(p))
	}
	return out, poolRules(spec("ports"), Service{Ports: out})
}

func portRange(pr *meshwardv1alpha1.PortRange) (*PortRange, error) {
	if pr == nil {
		return nil, nil
	}
	if pr.From < 1 || pr.To < 1 {
		return nil, errAt(spec("portRange"), "%d-%d: want 1 ≤ from ≤ to ≤ 65535", pr.From, pr.To)
	}
	r := &PortRange{From: uint32(pr.From), To: uint32(pr.To)}
	return r, poolRules(spec("portRange"), Service{PortRange: r})
}

func poolAddresses(as []string) ([]string, error) {
	if len(as) > MaxPoolAddresses {
		return nil, errAt(spec("addresses"), "%d addresses, at most %d", len(as), MaxPoolAddresses)
	}
	for i, a := range as {
		if _, err := parseUnicast(a); err != nil {
			return nil, errAt(spec("addresses", i), "%v", err)
		}
	}
	return as, poolRules(spec("addresses"), Service{Addresses: as})
}

// poolRules runs the catalog's own checks of a service's pools on one pool.
func poolRules(path []any, s Service) error {
	if err := s.validatePools(); err != nil {
		return errAt(path, "%v", err)
	}
	return nil
}

// schedule is the rotation's schedule, nil without `every`.
func schedule(sp *meshwardv1alpha1.MeshwardRotationSpec) (*Schedule, error) {
	if sp.Every == "" {
		if f := scheduleField(sp); f != "" {
			return nil, errAt(spec(f), "needs every (a schedule)")
		}
		return nil, nil
	}
	sc := &Schedule{MaxPerHour: int(sp.MaxPerHour), Recent: int(sp.Recent)}
	for _, d := range []struct {
		name, text string
		to         *time.Duration
	}{{"every", sp.Every, &sc.Every}, {"jitter", sp.Jitter, &sc.Jitter}, {"grace", sp.Grace, &sc.Grace},
		{"ackTimeout", sp.AckTimeout, &sc.AckTimeout}, {"hardDeadline", sp.HardDeadline, &sc.HardDeadline}} {
		if err := parseDuration(d.name, d.text, d.to); err != nil {
			return nil, err
		}
	}
	if len(sp.Blackouts) > maxBlackouts {
		return nil, errAt(spec("blackouts"), "%d blackouts, at most %d", len(sp.Blackouts), maxBlackouts)
	}
	for i, b := range sp.Blackouts {
		w, err := parseWindow(b)
		if err != nil {
			return nil, errAt(spec("blackouts", i), "%v", err)
		}
		sc.Blackouts = append(sc.Blackouts, w)
	}
	if err := sc.validate(); err != nil {
		// The catalog's messages start with the field they are about.
		near, _, _ := strings.Cut(err.Error(), " ")
		return nil, &fieldError{path: spec(), near: strings.TrimSuffix(near, ","), msg: err.Error()}
	}
	return sc, nil
}

func parseDuration(name, text string, to *time.Duration) error {
	if text == "" {
		return nil
	}
	d, err := time.ParseDuration(text)
	if err != nil {
		return errAt(spec(name), "%q: want a duration such as 90s or 1h30m", text)
	}
	*to = d
	return nil
}

// scheduleField names a schedule field that is set, if any.
func scheduleField(sp *meshwardv1alpha1.MeshwardRotationSpec) string {
	for _, f := range []struct {
		name string
		set  bool
	}{{"jitter", sp.Jitter != ""}, {"maxPerHour", sp.MaxPerHour != 0}, {"blackouts", len(sp.Blackouts) > 0},
		{"grace", sp.Grace != ""}, {"ackTimeout", sp.AckTimeout != ""}, {"hardDeadline", sp.HardDeadline != ""},
		{"recent", sp.Recent != 0}} {
		if f.set {
			return f.name
		}
	}
	return ""
}

// parseWindow reads "HH:MM-HH:MM" with the catalog's own reader.
func parseWindow(s string) (Window, error) {
	var w Window
	err := w.UnmarshalYAML(func(v any) error {
		p, ok := v.(*string)
		if !ok {
			return errors.New("blackout: the catalog's reader wants another type")
		}
		*p = s
		return nil
	})
	return w, err
}
