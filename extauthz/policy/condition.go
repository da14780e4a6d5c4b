package policy

import (
	"fmt"
	"strings"

	securityv1beta1 "istio.io/api/security/v1beta1"
)

// condKey is what a `when` condition looks at.
type condKey uint8

const (
	keyHeader condKey = iota
	keySourceIP
	keyRemoteIP
	keyDestinationIP
	keyDestinationPort
	keySourceNamespace
	keySourcePrincipal
	keyRequestPrincipal
	keySNI
)

type condition struct {
	name   string // the key as written
	key    condKey
	header string // for request.headers[...]
	str    strField
	ip     ipField
	port   portField
}

var condKeys = map[string]condKey{
	"source.ip":              keySourceIP,
	"remote.ip":              keyRemoteIP,
	"destination.ip":         keyDestinationIP,
	"destination.port":       keyDestinationPort,
	"source.namespace":       keySourceNamespace,
	"source.principal":       keySourcePrincipal,
	"request.auth.principal": keyRequestPrincipal,
	"connection.sni":         keySNI,
}

func compileCondition(c *securityv1beta1.Condition, path []any) (*condition, error) {
	key := c.GetKey()
	if len(c.GetValues())+len(c.GetNotValues()) == 0 {
		return nil, &fieldError{at(path, "values"), "a condition needs values or notValues"}
	}
	out := &condition{name: key}
	switch k, known := condKeys[key]; {
	case strings.HasPrefix(key, "request.headers[") && strings.HasSuffix(key, "]"):
		out.key, out.header = keyHeader, strings.ToLower(key[len("request.headers["):len(key)-1])
		if out.header == "" {
			return nil, &fieldError{at(path, "key"), "request.headers[] names no header"}
		}
	case strings.HasPrefix(key, "request.auth.") || strings.HasPrefix(key, "experimental."):
		return nil, &fieldError{at(path, "key"), fmt.Sprintf("%q is not supported: meshward's checks carry no JWT claims", key)}
	case !known:
		return nil, &fieldError{at(path, "key"), fmt.Sprintf("unknown condition key %q", key)}
	default:
		out.key = k
	}
	var err error
	switch out.key {
	case keySourceIP, keyRemoteIP, keyDestinationIP:
		out.ip, err = ips(c.GetValues(), c.GetNotValues(), path, "values", "notValues")
	case keyDestinationPort:
		out.port, err = ports(c.GetValues(), c.GetNotValues(), path, "values", "notValues")
	default:
		out.str, err = strs(c.GetValues(), c.GetNotValues(), false, path, "values", "notValues", parseStrMatch)
	}
	return out, err
}

// value is what the condition compares, for explanations.
func (c *condition) value(f *facts) string {
	switch c.key {
	case keyHeader:
		return f.Headers[c.header]
	case keySourceIP:
		return f.srcIP().String()
	case keyRemoteIP:
		return f.rmtIP().String()
	case keyDestinationIP:
		return f.dstIP().String()
	case keyDestinationPort:
		return fmt.Sprint(f.dstPort())
	case keySourceNamespace:
		return f.namespace
	case keySourcePrincipal:
		return f.principal
	case keyRequestPrincipal:
		return f.RequestPrincipal
	}
	return f.SNI
}

func (c *condition) matches(f *facts) bool {
	switch c.key {
	case keyHeader:
		return c.str.matches(f.Headers[c.header])
	case keySourceIP:
		return c.ip.matches(f.srcIP())
	case keyRemoteIP:
		return c.ip.matches(f.rmtIP())
	case keyDestinationIP:
		return c.ip.matches(f.dstIP())
	case keyDestinationPort:
		return c.port.matches(f.dstPort())
	case keySourceNamespace:
		return c.str.matches(f.namespace)
	case keySourcePrincipal:
		return c.str.matches(f.principal)
	case keyRequestPrincipal:
		return c.str.matches(f.RequestPrincipal)
	case keySNI:
		return c.str.matches(f.SNI)
	}
	return false
}

func (s *source) matches(f *facts) bool {
	return s.principals.matches(f.principal) && s.namespaces.matches(f.namespace) &&
		(!s.accounts.set || s.accounts.matches(f.account())) && s.trustDomains.matches(f.trustDomain) &&
		s.requestPrincipals.matches(f.RequestPrincipal) &&
		(!s.ips.set || s.ips.matches(f.srcIP())) && (!s.remoteIPs.set || s.remoteIPs.matches(f.rmtIP()))
}

func (o *operation) matches(f *facts) bool {
	if o.methodMask != 0 {
		if methodBits[f.Method]&o.methodMask == 0 {
			return false
		}
	} else if !o.methods.matches(f.Method) {
		return false
	}
	return o.paths.matches(f.path) &&
		(!o.hosts.set || o.hosts.matchesAnyForm(f.Host, f.hostBare())) && (!o.ports.set || o.ports.matches(f.dstPort()))
}

// matches: one source (if any are given), one operation (if any), and every
// condition.
//
// The loops are written out, not shared through a generic helper: generic
// calls go through a dictionary that makes f escape, and a decision must not
// allocate.
func (r *Rule) matches(f *facts) bool { return r.matchesFrom(f, true) }

// matchesFrom is matches, skipping the sources when the caller knows they match.
func (r *Rule) matchesFrom(f *facts, checkFrom bool) bool {
	if checkFrom && len(r.from) > 0 {
		ok := false
		for _, s := range r.from {
			if ok = s.matches(f); ok {
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(r.to) > 0 {
		ok := false
		for _, o := range r.to {
			if ok = o.matches(f); ok {
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, c := range r.when {
		if !c.matches(f) {
			return false
		}
	}
	return true
}

// keyedByRequestFacts: the rule looks only at what a decision cache keys by
// (principal, method, path, host, destination address) or what follows from
// them; no headers, source addresses, SNI or JWTs.
func (r *Rule) keyedByRequestFacts() bool {
	for _, c := range r.when {
		switch c.key {
		case keySourcePrincipal, keySourceNamespace, keyDestinationIP, keyDestinationPort:
		default:
			return false
		}
	}
	for _, s := range r.from {
		if s.ips.set || s.remoteIPs.set || s.requestPrincipals.set {
			return false
		}
	}
	return true
}
