package sidecar

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/e2e/proxywasm"
	"github.com/meshward/meshward/internal/identity"
	"github.com/meshward/meshward/internal/pathnorm"
)

// Outbound is the outbound side: the local workload sends plain HTTP to
// its listener, a filter instance of its own (its own plugin
// configuration) runs on the request and on the response, and requests go
// to one destination sidecar over mutual TLS.
type Outbound struct {
	Host *proxywasm.Host
	// Destination is the destination sidecar's host:port; DestinationID the
	// SPIFFE ID its certificate must carry (as Envoy checks the SANs Istio
	// lists for a cluster). Any other peer is refused before a byte of the
	// request is sent.
	Destination   string
	DestinationID string
	// TLS is the sidecar's mesh identity: its own certificate, presented as
	// the client certificate, and the mesh CA (identity.CA.ClientTLS makes
	// one).
	TLS               *tls.Config
	Log               zerolog.Logger
	PathNormalization pathnorm.Mode
	// Timeout bounds one upstream exchange; 0 means 30 s.
	Timeout time.Duration
}

// ListenOutbound serves o on addr, in plain HTTP: addr should be a
// loopback address only the workload reaches.
func ListenOutbound(addr string, o *Outbound) (*Server, error) {
	if o.Host == nil || o.Destination == "" || o.TLS == nil || len(o.TLS.Certificates) == 0 || o.TLS.RootCAs == nil {
		return nil, errors.New("sidecar: an outbound side needs a filter host, a destination, and a TLS config with the sidecar's certificate and the mesh CA")
	}
	if _, _, _, err := identity.Parse(o.DestinationID); err != nil {
		return nil, fmt.Errorf("sidecar: destination identity: %w", err)
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	self := identity.Own(o.TLS)
	x := &exchange{host: o.Host, upstream: "https://" + o.Destination, log: o.Log, norm: o.PathNormalization,
		client: &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: peerCheck(o.TLS, o.DestinationID)}},
		props: func(r *http.Request) map[string]string {
			return map[string]string{"source.address": r.RemoteAddr, "listener_direction": outbound}
		},
		upstreamProps: func(resp *http.Response) map[string]string {
			p := map[string]string{"upstream.uri_san_local_certificate": self}
			if resp.TLS != nil {
				p["upstream.uri_san_peer_certificate"] = identity.PeerID(resp.TLS)
			}
			return p
		},
	}
	return serve(addr, nil, http.HandlerFunc(x.serve), o.Log)
}

// peerCheck is base with Envoy's upstream validation: the chain must lead
// to the mesh CA and the leaf must name one of sans. The host name is not
// checked (mesh certificates name identities, not addresses). Nothing of a
// request is sent before it passed.
func peerCheck(base *tls.Config, sans ...string) *tls.Config {
	cfg := base.Clone()
	cfg.InsecureSkipVerify = true // replaced by VerifyConnection below
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("sidecar: the upstream presented no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: base.RootCAs, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		if err != nil {
			return fmt.Errorf("sidecar: the upstream's certificate: %w", err)
		}
		if got := identity.PeerID(&cs); !slices.Contains(sans, got) {
			return fmt.Errorf("sidecar: the upstream is %q, not one of %q", got, sans)
		}
		return nil
	}
	return cfg
}
