package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/meshward/meshward/extauthz/server"
	"github.com/meshward/meshward/internal/identity"
)

// xdsEventFlags say where alerts and quarantines are reported.
type xdsEventFlags struct {
	url, tokenFile string
}

func (f *xdsEventFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.url, "xds-events-url", "", "report quarantines and lateral-movement alerts to this xDS server's admin API (https://host:port; the server moves what the workload could reach and tells a quarantined one nothing new). Over https the authorizer presents --tls-cert and trusts --client-ca")
	fs.StringVar(&f.tokenFile, "xds-events-token-file", "", "file holding the xDS admin API's bearer token, if it asks for one")
}

// config is the notifier's configuration, nil without --xds-events-url.
func (f *xdsEventFlags) config(tlsCert, tlsKey, clientCA string) (*server.XDSEventsConfig, error) {
	if f.url == "" {
		if f.tokenFile != "" {
			return nil, fmt.Errorf("--xds-events-token-file without --xds-events-url")
		}
		return nil, nil
	}
	cfg := &server.XDSEventsConfig{URL: f.url}
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, err
		}
		if cfg.Token = bytes.TrimSpace(b); len(cfg.Token) < 16 {
			return nil, fmt.Errorf("%s: xds events token is %d bytes, want at least 16", f.tokenFile, len(cfg.Token))
		}
	}
	if clientCA != "" {
		tlsCfg, err := identity.LoadClientTLS(tlsCert, tlsKey, clientCA)
		if err != nil {
			return nil, err
		}
		cfg.TLS = tlsCfg
	}
	return cfg, nil
}
