// Package bench measures EaaS (`make bench-eaas`, issue 9): the round trip
// of an encryption and a decryption per cipher and per replica scenario (α,
// β, λ), the cryptor against raw Tink, what a dropped fake costs against a
// real decryption, and legitimate traffic under a flood of fakes. Every role
// runs in this process, but they talk as in a cluster: requesters reach
// coordinators over HTTPS with mesh client certificates, and roles reach each
// other over gRPC with mutual TLS, all on 127.0.0.1.
package bench

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/meshward/meshward/extauthz/eaas/keymanager"
	"github.com/meshward/meshward/extauthz/eaas/keystore"
	"github.com/meshward/meshward/extauthz/eaas/roles"
	"github.com/meshward/meshward/extauthz/eaas/rpc"
	"github.com/meshward/meshward/internal/identity"
)

// roleID is the identity every replica presents and accepts.
var roleID = identity.SPIFFE("meshward-system", "meshward-authorizer")

// Mesh is what the scenarios share: a CA, the replicas' identity, a
// key-encryption key, and the mesh clients of the workloads.
type Mesh struct {
	CA   *identity.CA
	role tls.Certificate
	kek  tink.AEAD
	// conns bounds the idle connections a workload keeps per coordinator:
	// as many as its concurrent requests, so that the load measures EaaS
	// and not TLS handshakes.
	conns int

	mu      sync.Mutex
	clients map[string]*http.Client
	stops   []func()
}

// NewMesh makes a CA and a KEK; conns is the largest number of concurrent
// requests one workload makes.
func NewMesh(conns int) (*Mesh, error) {
	ca, err := identity.NewCA()
	if err != nil {
		return nil, err
	}
	role, err := ca.Issue(roleID)
	if err != nil {
		return nil, err
	}
	kek, err := newKEK()
	if err != nil {
		return nil, err
	}
	return &Mesh{CA: ca, role: role, kek: kek, conns: max(conns, 2), clients: map[string]*http.Client{}}, nil
}

// newKEK goes through a file because that is how the key manager gets one.
func newKEK() (tink.AEAD, error) {
	dir, err := os.MkdirTemp("", "eaas-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "kek.json")
	if err := keymanager.GenerateKEKFile(path); err != nil {
		return nil, err
	}
	return keymanager.LoadKEK(path)
}

// Close stops every replica and server, the last started first.
func (m *Mesh) Close() {
	m.mu.Lock()
	stops := m.stops
	m.stops = nil
	m.mu.Unlock()
	for i := len(stops) - 1; i >= 0; i-- {
		stops[i]()
	}
}

func (m *Mesh) onClose(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stops = append(m.stops, f)
}

// start runs a replica with roles rs on its own gRPC listener.
func (m *Mesh) start(name string, rs []string, store keystore.Store, mod func(*roles.Config)) (*roles.Running, error) {
	cfg := roles.Config{Roles: rs, Name: name, Addr: "127.0.0.1:0", ServerTLS: m.CA.ServerTLS(m.role),
		ClientTLS: m.CA.ClientTLS(m.role), Store: store, KEK: m.kek, Log: zerolog.Nop(),
		Access: rpc.Access{Coordinators: []string{roleID}, Registrars: []string{roleID}}}
	if mod != nil {
		mod(&cfg)
	}
	r, err := roles.Start(cfg)
	if err != nil {
		return nil, fmt.Errorf("replica %s: %w", name, err)
	}
	m.onClose(r.Stop)
	return r, nil
}

// serveRequesters serves a coordinator's requester endpoints over HTTPS
// that asks for a mesh client certificate, as the authorizer's check port
// does, and returns the base URL.
func (m *Mesh) serveRequesters(r *roles.Running) (string, error) {
	if r.Requesters == nil {
		return "", errors.New("serving requesters: the replica runs no coordinator")
	}
	mux := http.NewServeMux()
	r.Mount(mux)
	tlsCfg := m.CA.ServerTLS(m.role)
	tlsCfg.ClientAuth = tls.VerifyClientCertIfGiven
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	// Handshake errors of connections the load cuts are not findings.
	srv := &http.Server{Handler: mux, TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	m.onClose(func() { _ = srv.Close() })
	return "https://" + l.Addr().String(), nil
}

// Client is the HTTPS client of the workload id (a SPIFFE ID), with its
// mesh certificate; one per identity, shared by its requesters.
func (m *Mesh) Client(id string) (*http.Client, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.clients[id]; ok {
		return c, nil
	}
	cert, err := m.CA.Issue(id)
	if err != nil {
		return nil, err
	}
	t := &http.Transport{TLSClientConfig: m.CA.ClientTLS(cert), MaxIdleConns: 0,
		MaxIdleConnsPerHost: m.conns, IdleConnTimeout: time.Minute}
	c := &http.Client{Transport: t}
	m.clients[id] = c
	m.stops = append(m.stops, t.CloseIdleConnections)
	return c, nil
}

// TempDir is a directory removed on Close.
func (m *Mesh) TempDir() (string, error) {
	dir, err := os.MkdirTemp("", "eaas-bench-")
	if err == nil {
		m.onClose(func() { _ = os.RemoveAll(dir) })
	}
	return dir, err
}

// WriteIdentity writes the CA and a certificate and key for id into dir,
// for a process of its own.
func (m *Mesh) WriteIdentity(dir, id string) (ca, cert, key string, err error) {
	c, err := m.CA.Issue(id)
	if err != nil {
		return "", "", "", err
	}
	base := filepath.Join(dir, strings.NewReplacer("/", "_", ":", "_").Replace(id))
	ca, cert, key = filepath.Join(dir, "ca.pem"), base+".pem", base+".key"
	return ca, cert, key, m.CA.WritePEM(c, ca, cert, key)
}
