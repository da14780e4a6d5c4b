package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/spf13/pflag"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meshward/meshward/extauthz/eaas/coordinator"
	"github.com/meshward/meshward/extauthz/eaas/roles"
	"github.com/meshward/meshward/extauthz/eaas/rpc"
	"github.com/meshward/meshward/internal/identity"
)

// eaasFlags configure a process's EaaS roles, in `serve` (prefixed eaas-)
// and in `eaas serve`.
type eaasFlags struct {
	roles, addr, store, kek, name           string
	keyManagers, cryptors, coordinators     []string
	coordinatorIDs, registrarIDs, replicaID []string
	maxBody                                 int
	rotateEvery                             time.Duration
	etcd                                    []string
	etcdPrefix, etcdCA, etcdCert, etcdKey   string
}

func (f *eaasFlags) add(fs *pflag.FlagSet, p string) {
	fs.StringVar(&f.roles, p+"roles", "all", "EaaS roles this process runs: all, or a list of registrar, coordinator, keymanager, cryptor")
	fs.StringVar(&f.addr, p+"addr", "127.0.0.1:9193", "address of the EaaS roles' gRPC API (mutual TLS; operators may use the bearer token)")
	fs.StringVar(&f.store, p+"store", "", "bbolt file of the EaaS keys (encrypted under the KEK) and the coordinator's state")
	fs.StringVar(&f.kek, p+"kek-file", "", "key-encryption key (a Tink keyset; `extauthz eaas kek generate FILE` makes one)")
	fs.StringVar(&f.name, p+"name", "eaas-0", "this replica's name (the coordinator's id)")
	fs.StringSliceVar(&f.keyManagers, p+"keymanagers", nil, "addresses of remote key manager replicas (default: the local role)")
	fs.StringSliceVar(&f.cryptors, p+"cryptors", nil, "addresses of remote cryptor replicas (default: the local role)")
	fs.StringSliceVar(&f.coordinators, p+"coordinators", nil, "addresses of remote coordinators the registrar assigns to")
	fs.StringSliceVar(&f.coordinatorIDs, p+"coordinator-ids", nil, "SPIFFE IDs allowed to call key managers and cryptors (default: this process's own)")
	fs.StringSliceVar(&f.registrarIDs, p+"registrar-ids", nil, "SPIFFE IDs allowed to assign subscribers to the coordinator (default: this process's own)")
	fs.StringSliceVar(&f.replicaID, p+"replica-ids", nil, "SPIFFE IDs remote replicas must present (default: --"+p+"coordinator-ids)")
	fs.StringSliceVar(&f.etcd, p+"etcd", nil, "etcd endpoints of a key store shared by replicas (instead of --"+p+"store)")
	fs.StringVar(&f.etcdPrefix, p+"etcd-prefix", "/meshward/eaas/", "key prefix in etcd")
	fs.StringVar(&f.etcdCA, p+"etcd-ca", "", "CA (PEM) of etcd's serving certificate (https endpoints)")
	fs.StringVar(&f.etcdCert, p+"etcd-cert", "", "client certificate (PEM) for etcd")
	fs.StringVar(&f.etcdKey, p+"etcd-key", "", "its key")
	fs.DurationVar(&f.rotateEvery, p+"rotate-every", 0, "give each pair a new primary key once its primary is this old (0: only `eaas keys rotate`)")
	fs.IntVar(&f.maxBody, p+"max-body-bytes", coordinator.DefaultMaxBodyBytes, "largest body the coordinator encrypts or decrypts")
}

// config builds the roles' configuration; serverTLS and clientTLS are the
// mesh certificate's, token the operator's.
func (f *eaasFlags) config(serverTLS, clientTLS *tls.Config, token []byte) (roles.Config, error) {
	rs, err := roles.ParseRoles(f.roles)
	if err != nil {
		return roles.Config{}, err
	}
	self := identity.Own(serverTLS)
	access := rpc.Access{Coordinators: orSelf(f.coordinatorIDs, self), Registrars: orSelf(f.registrarIDs, self), OperatorToken: token}
	etcd, err := f.etcdConfig()
	if err != nil {
		return roles.Config{}, err
	}
	return roles.Config{Etcd: etcd, EtcdPrefix: f.etcdPrefix, Roles: rs, Name: f.name, Addr: f.addr, ServerTLS: serverTLS, ClientTLS: clientTLS,
		StorePath: f.store, KEKFile: f.kek, KeyManagers: f.keyManagers, Cryptors: f.cryptors, Coordinators: f.coordinators,
		Access: access, ReplicaIDs: f.replicaID, MaxBodyBytes: f.maxBody, RotateEvery: f.rotateEvery}, nil
}

func orSelf(ids []string, self string) []string {
	if len(ids) > 0 || self == "" {
		return ids
	}
	return []string{self}
}

// clientTLS is the mesh certificate presented to other replicas.
func clientTLS(cert, key, ca string) (*tls.Config, error) {
	if cert == "" || ca == "" {
		return nil, nil
	}
	c, err := identity.LoadClientTLS(cert, key, ca)
	if err != nil {
		return nil, fmt.Errorf("eaas: %w", err)
	}
	return c, nil
}

// startEaaS starts the roles beside the authorizer, on its mesh certificate.
func startEaaS(f *eaasFlags, serverTLS *tls.Config, cert, key, ca string, token []byte,
	reg *prometheus.Registry, log zerolog.Logger) (*roles.Running, error) {
	ctls, err := clientTLS(cert, key, ca)
	if err != nil {
		return nil, err
	}
	cfg, err := f.config(serverTLS, ctls, token)
	if err != nil {
		return nil, err
	}
	cfg.Registry, cfg.Log = reg, log
	return roles.Start(cfg)
}

func mountEaaS(r *roles.Running) func(*http.ServeMux) {
	if r == nil {
		return nil
	}
	return r.Mount
}

func (f *eaasFlags) etcdConfig() (*clientv3.Config, error) {
	if len(f.etcd) == 0 {
		return nil, nil
	}
	if f.store != "" {
		return nil, errors.New("eaas: give --eaas-store or --eaas-etcd, not both")
	}
	c := &clientv3.Config{Endpoints: f.etcd, DialTimeout: 5 * time.Second}
	if f.etcdCA != "" {
		t, err := identity.LoadClientTLS(f.etcdCert, f.etcdKey, f.etcdCA)
		if err != nil {
			return nil, fmt.Errorf("eaas: etcd: %w", err)
		}
		c.TLS = t
	}
	return c, nil
}
