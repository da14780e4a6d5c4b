package envoy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/meshward/meshward/internal/yamlstrict"
)

// MaxTemplateBytes bounds a template file.
const MaxTemplateBytes = 256 << 10

// Template is what every sidecar's configuration shares, as an operator
// writes it (`xds --sidecars FILE`): the filter, the authorizer, where the
// certificates are. What differs per sidecar (its sockets, its peers, the
// identity and labels in its plugin configuration) comes from the catalog
// and the node.
type Template struct {
	Filter           WasmFilter
	Authz            Authorizer
	TLS              TLS
	DrainAfter       time.Duration
	BufferLimitBytes uint32
	inbound          map[string]any // plugin configuration, before the per-sidecar fields
	outbound         map[string]any // nil: no outbound filter
}

// templateFile is the file's shape; keys are checked, so a misspelt one
// is an error with its line.
type templateFile struct {
	Filter struct {
		VMID   string `yaml:"vmID"`
		RootID string `yaml:"rootID"`
		File   string `yaml:"file"`
		Remote *struct {
			URI    string `yaml:"uri"`
			SHA256 string `yaml:"sha256"`
			Server string `yaml:"server"`
		} `yaml:"remote"`
		Inbound  yaml.Node `yaml:"inbound"`
		Outbound yaml.Node `yaml:"outbound"`
	} `yaml:"filter"`
	Authorizer struct {
		Identity string        `yaml:"identity"`
		GRPC     []string      `yaml:"grpc"`
		HTTP     []string      `yaml:"http"`
		EaaS     []string      `yaml:"eaas"`
		Timeout  time.Duration `yaml:"timeout"`
	} `yaml:"authorizer"`
	TLS struct {
		CertFile string `yaml:"certFile"`
		KeyFile  string `yaml:"keyFile"`
		CAFile   string `yaml:"caFile"`
		SDS      *SDS   `yaml:"sds"`
	} `yaml:"tls"`
	DrainAfter       time.Duration `yaml:"drainAfter"`
	BufferLimitBytes uint32        `yaml:"bufferLimitBytes"`
}

// ParseTemplate decodes a template and checks it makes a valid sidecar;
// errors say name:line or name: field.
func ParseTemplate(name string, data []byte) (*Template, error) {
	if len(data) > MaxTemplateBytes {
		return nil, fmt.Errorf("%s: %d bytes, at most %d", name, len(data), MaxTemplateBytes)
	}
	var f templateFile
	if err := yamlstrict.Decode(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	t, err := f.template()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if _, err := Build(t.probe()); err != nil {
		return nil, fmt.Errorf("%s: the template does not make a valid sidecar: %w", name, err)
	}
	return t, nil
}

func (f *templateFile) template() (*Template, error) {
	t := &Template{DrainAfter: f.DrainAfter, BufferLimitBytes: f.BufferLimitBytes,
		Filter: WasmFilter{VMID: f.Filter.VMID, RootID: f.Filter.RootID, Code: WasmCode{File: f.Filter.File}},
		Authz:  Authorizer{Identity: f.Authorizer.Identity, Timeout: f.Authorizer.Timeout},
		TLS:    TLS{CertFile: f.TLS.CertFile, KeyFile: f.TLS.KeyFile, CAFile: f.TLS.CAFile, SDS: f.TLS.SDS}}
	if err := checkSPIFFE(t.Authz.Identity); err != nil {
		return nil, fmt.Errorf("authorizer.identity: %w", err)
	}
	if r := f.Filter.Remote; r != nil {
		srv, err := parseSocket("filter.remote.server", r.Server)
		if err != nil {
			return nil, err
		}
		t.Filter.Code.Remote = &RemoteCode{URI: r.URI, SHA256: r.SHA256, Server: srv}
	}
	var err error
	for _, l := range []struct {
		field string
		in    []string
		out   *[]Socket
	}{{"authorizer.grpc", f.Authorizer.GRPC, &t.Authz.GRPC}, {"authorizer.http", f.Authorizer.HTTP, &t.Authz.HTTP},
		{"authorizer.eaas", f.Authorizer.EaaS, &t.Authz.EaaS}} {
		if *l.out, err = parseSockets(l.field, l.in); err != nil {
			return nil, err
		}
	}
	if t.inbound, err = pluginObject("filter.inbound", &f.Filter.Inbound); err != nil {
		return nil, err
	}
	if t.inbound == nil {
		return nil, errors.New("filter.inbound: missing: the inbound filter is what judges every hop")
	}
	t.outbound, err = pluginObject("filter.outbound", &f.Filter.Outbound)
	return t, err
}

// pluginObject is a plugin configuration written as YAML, as the JSON
// object the filter reads; nil when absent.
func pluginObject(field string, n *yaml.Node) (map[string]any, error) {
	if n.Kind == 0 {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: %s: want a mapping (the filter's plugin configuration)", n.Line, field)
	}
	raw, err := yamlstrict.JSON(n)
	if err != nil {
		return nil, fmt.Errorf("line %d: %s: %w", n.Line, field, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("line %d: %s: %w", n.Line, field, err)
	}
	return m, nil
}

func parseSockets(field string, in []string) ([]Socket, error) {
	out := make([]Socket, 0, len(in))
	for i, s := range in {
		sock, err := parseSocket(fmt.Sprintf("%s[%d]", field, i), s)
		if err != nil {
			return nil, err
		}
		out = append(out, sock)
	}
	return out, nil
}

func parseSocket(field, s string) (Socket, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return Socket{}, fmt.Errorf("%s: %q: want address:port", field, s)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return Socket{}, fmt.Errorf("%s: %q: port 1-65535", field, s)
	}
	return Socket{Address: host, Port: uint32(p)}, nil
}

// PluginConfig is the filter's configuration for a sidecar of identity
// whose service carries labels, inbound or outbound ("" when the template
// has no outbound filter). The per-sidecar fields are the template's to
// fill: the authorizer refuses checks about another workload than the
// caller's, so "destination" is always the sidecar's own identity.
func (t *Template) PluginConfig(identity string, labels map[string]string, inbound bool) (string, error) {
	base := t.outbound
	if inbound {
		base = t.inbound
	}
	if base == nil {
		return "", nil
	}
	m := make(map[string]any, len(base)+3)
	for k, v := range base {
		m[k] = v
	}
	if _, ok := m["authorizer_cluster"]; !ok {
		m["authorizer_cluster"] = AuthzHTTPCluster
	}
	if inbound {
		m["destination"] = identity
		if _, ok := m["destination_labels"]; !ok && len(labels) > 0 {
			m["destination_labels"] = labels
		}
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// probe is a sidecar made from the template alone, to check it loads.
func (t *Template) probe() Sidecar {
	id := "spiffe://" + trustDomain(t.Authz.Identity) + "/ns/probe/sa/probe"
	s := Sidecar{Node: "probe", Identity: id, Service: "probe", Inbound: []Socket{{"127.0.0.1", 15006}},
		App: Socket{"127.0.0.1", 8080}, Outbound: Socket{"127.0.0.1", 15001},
		Filter: t.Filter, Authz: t.Authz, TLS: t.TLS, DrainAfter: t.DrainAfter, BufferLimitBytes: t.BufferLimitBytes}
	s.Filter.Inbound, _ = t.PluginConfig(id, nil, true)
	s.Filter.Outbound, _ = t.PluginConfig(id, nil, false)
	return s
}
