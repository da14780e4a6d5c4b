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
	keySourceAccount
	keyTrustDomain
	keyHost   // request.headers[:authority]
	keyMethod // request.headers[:method]
	keyPath   // request.headers[:path]: with the query, as Envoy sees it
)

type condition struct {
	name   string // the key as written
	key    condKey
	header string // for request.headers[...]
	str    strField
	ip     ipField
	port   portField
	jwt    principalField
}

var condKeys = map[string]condKey{
	"source.ip":              keySourceIP,
	"remote.ip":              keyRemoteIP,
	"destination.ip":         keyDestinationIP,
	"destination.port":       keyDestinationPort,
	"source.namespace":       keySourceNamespace,
	"source.principal":       keySourcePrincipal,
	"source.serviceAccount":  keySourceAccount,
	"source.trustDomain":     keyTrustDomain,
	"request.auth.principal": keyRequestPrincipal,
	"connection.sni":         keySNI,
}

// pseudoHeaders are the request's own facts under Envoy's header names:
// the filter sends them as fields, never as headers.
var pseudoHeaders = map[string]condKey{":authority": keyHost, ":method": keyMethod, ":path": keyPath}

// unsentHeaders never reach the authorizer (credentials the filter drops,
// and its own rule header): a condition on them could never match.
var unsentHeaders = map[string]bool{"authorization": true, "proxy-authorization": true, "cookie": true, "x-meshward-rule": true}

// headerKeys are Istio's two spellings of a header condition.
var headerKeys = []string{"request.headers[", "request.experimental.inline.headers["}

func compileCondition(c *securityv1beta1.Condition, path []any, ns string) (*condition, error) {
	key := c.GetKey()
	if key == "" {
		return nil, &fieldError{at(path, "key"), "empty"}
	}
	if len(c.GetValues())+len(c.GetNotValues()) == 0 {
		return nil, &fieldError{at(path, "values"), "a condition needs values or notValues"}
	}
	out := &condition{name: key}
	if err := out.compileKey(key, at(path, "key")); err != nil {
		return nil, err
	}
	var err error
	switch out.key {
	case keySourceIP, keyRemoteIP, keyDestinationIP:
		out.ip, err = ips(c.GetValues(), c.GetNotValues(), path, "values", "notValues")
	case keyDestinationPort:
		out.port, err = ports(c.GetValues(), c.GetNotValues(), path, "values", "notValues")
	case keyRequestPrincipal:
		out.jwt, err = principals(c.GetValues(), c.GetNotValues(), path, "values", "notValues")
	case keySourceAccount:
		out.str, err = accounts(c.GetValues(), c.GetNotValues(), ns, path, "values", "notValues")
	case keySourceNamespace:
		out.str, err = strs(c.GetValues(), c.GetNotValues(), false, path, "values", "notValues", parseNamespaceMatch)
	case keyTrustDomain:
		out.str, err = strs(c.GetValues(), c.GetNotValues(), false, path, "values", "notValues", parseTrustDomain)
	default:
		out.str, err = strs(c.GetValues(), c.GetNotValues(), false, path, "values", "notValues", parseStrMatch)
	}
	return out, err
}

func (c *condition) compileKey(key string, path []any) error {
	for _, prefix := range headerKeys {
		if strings.HasPrefix(key, prefix) && strings.HasSuffix(key, "]") {
			return c.compileHeader(strings.ToLower(key[len(prefix):len(key)-1]), path)
		}
	}
	k, known := condKeys[key]
	switch {
	case known:
		c.key = k
		return nil
	case strings.HasPrefix(key, "request.auth."):
		return &fieldError{path, fmt.Sprintf("%q is not supported: checks carry the JWT's principal (request.auth.principal), not its claims, audiences or presenter", key)}
	case strings.HasPrefix(key, "experimental.envoy.filters."):
		return &fieldError{path, fmt.Sprintf("%q is not supported: checks carry no Envoy filter metadata", key)}
	}
	return &fieldError{path, fmt.Sprintf("unknown condition key %q", key)}
}

func (c *condition) compileHeader(name string, path []any) error {
	c.header = name
	switch k, pseudo := pseudoHeaders[name]; {
	case name == "":
		return &fieldError{path, "names no header"}
	case pseudo:
		c.key = k
	case strings.HasPrefix(name, ":"):
		return &fieldError{path, fmt.Sprintf("pseudo-header %q is not supported (only :authority, :method and :path)", name)}
	case unsentHeaders[name]:
		return &fieldError{path, fmt.Sprintf("header %q never reaches the authorizer (credentials are not sent), so the condition could never match", name)}
	default:
		c.key = keyHeader
	}
	return nil
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
	case keySourceAccount:
		return f.account()
	case keyTrustDomain:
		return f.trustDomain
	case keyHost:
		return f.Host
	case keyMethod:
		return f.Method
	case keyPath:
		return f.Path
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
		return c.jwt.matches(f.RequestPrincipal)
	case keySNI:
		return c.str.matches(f.SNI)
	case keySourceAccount:
		return c.str.matches(f.account())
	case keyTrustDomain:
		return c.str.matches(f.trustDomain)
	case keyHost:
		return c.str.matches(f.Host)
	case keyMethod:
		return c.str.matches(f.Method)
	case keyPath:
		return c.str.matches(f.Path)
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
	return o.paths.matches(f.path) && (!o.hosts.set || o.hostsMatch(f)) && (!o.ports.set || o.ports.matches(f.dstPort()))
}

// hostsMatch compares :authority as Istio does, exactly (case-insensitively);
// a namespace whose MeshwardPolicy sets hostsMatchAnyPort also matches the
// host without its port.
func (o *operation) hostsMatch(f *facts) bool {
	if len(f.anyPortNS) > 0 && f.anyPortNS[o.ns] {
		return o.hosts.matchesAnyForm(f.Host, f.hostBare())
	}
	return o.hosts.matches(f.Host)
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
		case keySourcePrincipal, keySourceNamespace, keySourceAccount, keyTrustDomain,
			keyDestinationIP, keyDestinationPort, keyHost, keyMethod:
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
