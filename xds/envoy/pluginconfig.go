package envoy

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
)

// MaxPluginConfigBytes bounds a plugin configuration.
const MaxPluginConfigBytes = 64 << 10

// pluginConfig holds the fields of the filter's configuration that must
// agree with the resources built here; the filter checks the rest itself.
type pluginConfig struct {
	AuthorizerCluster string `json:"authorizer_cluster"`
	Destination       string `json:"destination"`
	EAAS              struct {
		Enabled      bool   `json:"enabled"`
		Cluster      string `json:"cluster"`
		Direction    string `json:"direction"`
		MaxBodyBytes int64  `json:"max_body_bytes"`
	} `json:"eaas"`
}

func (s *Sidecar) validateFilter() error {
	f := &s.Filter
	if !tokenRE.MatchString(f.VMID) {
		return fieldErr("Filter.VMID", fmt.Errorf("%q: want at most 128 letters, digits, '.', '_' and '-'", f.VMID))
	}
	if !tokenRE.MatchString(f.RootID) {
		return fieldErr("Filter.RootID", fmt.Errorf("%q: want at most 128 letters, digits, '.', '_' and '-'", f.RootID))
	}
	if err := f.Code.validate(); err != nil {
		return err
	}
	if err := s.checkPluginConfig(f.Inbound, "inbound"); err != nil {
		return fieldErr("Filter.Inbound", err)
	}
	if f.Outbound == "" {
		return nil
	}
	return fieldErr("Filter.Outbound", s.checkPluginConfig(f.Outbound, "outbound"))
}

func (c *WasmCode) validate() error {
	switch {
	case c.File != "" && c.Remote != nil:
		return fieldErr("Filter.Code", errors.New("both File and Remote: give one"))
	case c.Remote == nil:
		return fieldErr("Filter.Code.File", checkPath(c.File))
	}
	r := c.Remote
	u, err := url.Parse(r.URI)
	if err != nil || u.Scheme != "http" || u.Host == "" || u.User != nil || u.Fragment != "" || len(r.URI) > maxPathBytes {
		// Plain HTTP only: the cluster built for it has no TLS, and the
		// digest is what Envoy trusts.
		return fieldErr("Filter.Code.Remote.URI", fmt.Errorf("%q: want http://host/path", r.URI))
	}
	if b, err := hex.DecodeString(r.SHA256); err != nil || len(b) != 32 {
		return fieldErr("Filter.Code.Remote.SHA256", fmt.Errorf("%q: want 64 hex digits", r.SHA256))
	}
	if _, err := r.Server.addrPort(upstream); err != nil {
		return fieldErr("Filter.Code.Remote.Server", err)
	}
	return nil
}

// checkPluginConfig reads a plugin configuration as hostile input and
// checks that what it names exists here: a cluster the filter calls that
// Envoy does not have fails every call, and so every request.
func (s *Sidecar) checkPluginConfig(raw, direction string) error {
	if len(raw) > MaxPluginConfigBytes {
		return fmt.Errorf("%d bytes, at most %d", len(raw), MaxPluginConfigBytes)
	}
	var c pluginConfig
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	if err := dec.Decode(&c); err != nil {
		return fmt.Errorf("not a JSON object: %v (near offset %d)", err, dec.InputOffset())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("trailing data after the JSON object at offset %d", dec.InputOffset())
	}
	if c.AuthorizerCluster != AuthzHTTPCluster {
		return fmt.Errorf("\"authorizer_cluster\" is %q, want %q (the authorizer's check port here)", c.AuthorizerCluster, AuthzHTTPCluster)
	}
	if c.Destination != "" && c.Destination != s.Identity {
		// The authorizer refuses checks about another workload than the caller.
		return fmt.Errorf("\"destination\" is %q, not this sidecar's identity %q", c.Destination, s.Identity)
	}
	if cl := c.EAAS.Cluster; cl != "" && cl != AuthzHTTPCluster && (cl != EaaSCluster || len(s.Authz.EaaS) == 0) {
		return fmt.Errorf("\"eaas.cluster\" is %q, want %q or, with Authz.EaaS, %q", cl, AuthzHTTPCluster, EaaSCluster)
	}
	switch d := c.EAAS.Direction; {
	case direction == "inbound" && d != "" && d != "inbound":
		return fmt.Errorf("\"eaas.direction\" is %q on an inbound listener", d)
	case direction == "outbound" && (d != "outbound" || !c.EAAS.Enabled):
		return errors.New("an outbound filter needs \"eaas\": {\"enabled\": true, \"direction\": \"outbound\"}")
	}
	return nil
}
