// Package roles runs a process's share of the EaaS roles (seed 001): all four
// in one process by default (inside `extauthz serve`), or any subset as
// replicas of their own (`extauthz eaas serve --roles`), so that the seed's
// scenarios α, β and λ are real processes talking gRPC over mutual TLS.
package roles

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/tink-crypto/tink-go/v2/tink"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	eaasv1 "github.com/meshward/meshward/api/eaas/v1"
	"github.com/meshward/meshward/extauthz/eaas/coordinator"
	"github.com/meshward/meshward/extauthz/eaas/cryptor"
	"github.com/meshward/meshward/extauthz/eaas/keymanager"
	"github.com/meshward/meshward/extauthz/eaas/keystore"
	"github.com/meshward/meshward/extauthz/eaas/keystore/etcdstore"
	"github.com/meshward/meshward/extauthz/eaas/registrar"
	"github.com/meshward/meshward/extauthz/eaas/rpc"
	"github.com/meshward/meshward/internal/identity"
)

// Role names.
const (
	Registrar   = "registrar"
	Coordinator = "coordinator"
	KeyManager  = "keymanager"
	Cryptor     = "cryptor"
)

// All is every role, the default.
var All = []string{Registrar, Coordinator, KeyManager, Cryptor}

// ParseRoles reads "all" or a comma-separated list of role names.
func ParseRoles(s string) ([]string, error) {
	if s == "" || s == "all" {
		return All, nil
	}
	var out []string
	for _, r := range strings.Split(s, ",") {
		r = strings.TrimSpace(r)
		if !slices.Contains(All, r) {
			return nil, fmt.Errorf("eaas role %q: want all or a list of %s", r, strings.Join(All, ", "))
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// Config is one process's roles.
type Config struct {
	Roles []string // default All
	// Name names this replica (the coordinator's C_ID); default "eaas-0".
	Name string
	// Addr is where the roles' gRPC API listens ("": no listener, the roles
	// serve only this process).
	Addr string
	// ServerTLS (mutual, mesh CA) is required with Addr; ClientTLS reaches
	// remote replicas.
	ServerTLS *tls.Config
	ClientTLS *tls.Config
	// Store holds keysets and the coordinator's state; StorePath opens a
	// bbolt file when Store is nil.
	Store     keystore.Store
	StorePath string
	// Etcd, when set, is the shared store instead of StorePath: replicas
	// then share keys, subscribers and sequence reservations.
	Etcd       *clientv3.Config
	EtcdPrefix string
	// KEK encrypts keysets at rest; KEKFile reads it when KEK is nil.
	KEK     tink.AEAD
	KEKFile string
	// ReplicaIDs are the SPIFFE IDs a remote replica must present: a mesh
	// workload that took a replica's address (the seed's Scenario 1) must not
	// receive keys or plaintext. Default: Access.Coordinators.
	ReplicaIDs []string
	// Remote replicas; empty: the local role (which must then run here).
	KeyManagers, Cryptors, Coordinators []string
	Access                              rpc.Access
	HTTP                                rpc.HTTPConfig
	MaxBodyBytes                        int
	// RotateEvery gives each pair a new primary key once its primary is
	// this old (0: only on demand).
	RotateEvery time.Duration
	Registry    prometheus.Registerer
	Log         zerolog.Logger
}

// Running is a started set of roles.
type Running struct {
	Coordinator *coordinator.Coordinator
	Registrar   *registrar.Registrar
	Keys        *keymanager.Manager
	Requesters  *rpc.Requesters
	Addr        net.Addr
	grpc        *grpc.Server
	cancel      context.CancelFunc
	conns       []*grpc.ClientConn
	store       keystore.Store
	ownStore    bool
	done        chan error
}

func (c *Config) has(role string) bool { return slices.Contains(c.Roles, role) }

// Start opens the store, makes the roles and serves their gRPC API.
func Start(cfg Config) (*Running, error) {
	if len(cfg.Roles) == 0 {
		cfg.Roles = All
	}
	if cfg.Name == "" {
		cfg.Name = "eaas-0"
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	r := &Running{done: make(chan error, 1)}
	if err := r.start(&cfg); err != nil {
		r.Stop()
		return nil, err
	}
	return r, nil
}

func (r *Running) start(cfg *Config) error {
	x := newMetrics(cfg.Registry)
	if err := r.openStore(cfg); err != nil {
		return err
	}
	keys, err := r.keyManager(cfg, x)
	if err != nil {
		return err
	}
	crypto := coordinator.Crypto(nil)
	if cfg.has(Cryptor) {
		crypto = countedCrypto{c: coordinator.LocalCrypto{C: cryptor.New(4096)}, x: x}
	}
	if cfg.has(Coordinator) {
		if err := r.coordinator(cfg, x, keys, crypto); err != nil {
			return err
		}
	}
	if cfg.has(Registrar) {
		if err := r.registrar(cfg); err != nil {
			return err
		}
	}
	return r.serve(cfg, keys, crypto)
}

func (r *Running) openStore(cfg *Config) error {
	if !cfg.has(KeyManager) && !cfg.has(Coordinator) {
		return nil
	}
	r.store = cfg.Store
	if r.store != nil {
		return nil
	}
	if cfg.Etcd != nil {
		if cfg.EtcdPrefix == "" {
			cfg.EtcdPrefix = "/meshward/eaas/"
		}
		s, err := etcdstore.OpenEtcd(*cfg.Etcd, cfg.EtcdPrefix)
		if err != nil {
			return fmt.Errorf("eaas: opening the etcd key store: %w", err)
		}
		r.store, r.ownStore = s, true
		return nil
	}
	if cfg.StorePath == "" {
		return errors.New("eaas: a key store is required (--eaas-store FILE, or --eaas-etcd): keys must survive a restart")
	}
	s, err := keystore.OpenBolt(cfg.StorePath, 10*time.Second)
	if err != nil {
		return fmt.Errorf("eaas: opening the key store: %w", err)
	}
	r.store, r.ownStore = s, true
	return nil
}

func (r *Running) keyManager(cfg *Config, x *metrics) (rpc.KeyService, error) {
	if !cfg.has(KeyManager) {
		return nil, nil
	}
	kek := cfg.KEK
	if kek == nil {
		if cfg.KEKFile == "" {
			return nil, errors.New("eaas: the key manager needs a key-encryption key (--eaas-kek-file; make one with `extauthz eaas kek generate`)")
		}
		var err error
		if kek, err = keymanager.LoadKEK(cfg.KEKFile); err != nil {
			return nil, fmt.Errorf("eaas: %w", err)
		}
	}
	r.Keys = keymanager.New(r.store, kek)
	if cfg.RotateEvery > 0 {
		var ctx context.Context
		ctx, r.cancel = context.WithCancel(context.Background())
		go rotateOnSchedule(ctx, r.Keys, cfg.RotateEvery, x, cfg.Log)
	}
	return countedKeys{m: r.Keys, x: x}, nil
}

func (r *Running) coordinator(cfg *Config, x *metrics, keys rpc.KeyService, crypto coordinator.Crypto) error {
	var localKeys coordinator.Keys
	if keys != nil {
		localKeys = keys
	}
	kp, err := pool(r, cfg, KeyManager, cfg.KeyManagers, localKeys,
		func(c *grpc.ClientConn) coordinator.Keys { return rpc.NewRemoteKeys(c) })
	if err != nil {
		return err
	}
	cp, err := pool(r, cfg, Cryptor, cfg.Cryptors, crypto,
		func(c *grpc.ClientConn) coordinator.Crypto { return rpc.NewRemoteCrypto(c) })
	if err != nil {
		return err
	}
	r.Coordinator, err = coordinator.New(coordinator.Config{ID: cfg.Name, Keys: kp, Cryptors: cp,
		State: coordinator.StoreState{S: r.store}, MaxBodyBytes: cfg.MaxBodyBytes, Observer: x})
	if err != nil {
		return err
	}
	h := cfg.HTTP
	h.Shed = func(b string) { x.shed.WithLabelValues(b).Inc() }
	h.Log = cfg.Log
	r.Requesters = rpc.NewRequesters(r.Coordinator, h)
	x.watchReplicas(cfg.Registry, r.Coordinator)
	return nil
}

// pool is the remote replicas at addrs or, without any, the local one.
func pool[T comparable](r *Running, cfg *Config, role string, addrs []string, local T,
	wrap func(*grpc.ClientConn) T) (*coordinator.Pool[T], error) {
	var zero T
	if len(addrs) == 0 {
		if local == zero {
			return nil, fmt.Errorf("eaas: the coordinator needs a %s: run the role here or name replicas (--eaas-%ss)", role, role)
		}
		return coordinator.NewPool(role, &coordinator.Replica[T]{Name: role + "-local", Client: local}), nil
	}
	var reps []*coordinator.Replica[T]
	for _, a := range addrs {
		conn, err := r.dial(cfg, a)
		if err != nil {
			return nil, err
		}
		reps = append(reps, &coordinator.Replica[T]{Name: role + "@" + a, Client: wrap(conn)})
	}
	return coordinator.NewPool(role, reps...), nil
}

// dial connects to a remote replica over mutual TLS; gRPC reconnects by itself.
func (r *Running) dial(cfg *Config, addr string) (*grpc.ClientConn, error) {
	if cfg.ClientTLS == nil {
		return nil, fmt.Errorf("eaas: reaching %s needs a mesh client certificate", addr)
	}
	ids := cfg.ReplicaIDs
	if len(ids) == 0 {
		ids = cfg.Access.Coordinators
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("eaas: reaching %s: no replica identities to verify it against", addr)
	}
	tlsCfg := cfg.ClientTLS.Clone()
	tlsCfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if id := identity.PeerID(&cs); !slices.Contains(ids, id) {
			return fmt.Errorf("eaas replica %s presented %q, not an EaaS replica identity", addr, id)
		}
		return nil
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage), grpc.MaxCallSendMsgSize(maxMessage)))
	if err != nil {
		return nil, fmt.Errorf("eaas: %s: %w", addr, err)
	}
	r.conns = append(r.conns, conn)
	return conn, nil
}

// maxMessage bounds a gRPC message between roles: a batch of the largest
// body (coordinator.MaxBatchBytes) and room for the key and framing.
const maxMessage = coordinator.MaxBatchBytes + 1<<20

func (r *Running) registrar(cfg *Config) error {
	var coords []registrar.Coordinator
	if r.Coordinator != nil {
		coords = append(coords, r.Coordinator)
	}
	for _, a := range cfg.Coordinators {
		conn, err := r.dial(cfg, a)
		if err != nil {
			return err
		}
		coords = append(coords, rpc.NewRemoteCoordinator(conn))
	}
	if len(coords) == 0 {
		return errors.New("eaas: the registrar needs a coordinator: run the role here or name replicas (--eaas-coordinators)")
	}
	r.Registrar = registrar.New(coords...)
	return nil
}

func (r *Running) serve(cfg *Config, keys rpc.KeyService, crypto coordinator.Crypto) error {
	if cfg.Addr == "" {
		return nil
	}
	if cfg.ServerTLS == nil || cfg.ServerTLS.ClientCAs == nil {
		return errors.New("eaas: the roles' gRPC API needs mutual TLS with the mesh CA")
	}
	tlsCfg := cfg.ServerTLS.Clone()
	tlsCfg.ClientAuth = tls.VerifyClientCertIfGiven // operators may come with a bearer token instead
	l, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("eaas: listener: %w", err)
	}
	r.Addr = l.Addr()
	opts := append(cfg.Access.ServerOptions(), grpc.Creds(credentials.NewTLS(tlsCfg)),
		grpc.MaxRecvMsgSize(maxMessage), grpc.MaxSendMsgSize(maxMessage))
	r.grpc = grpc.NewServer(opts...)
	if keys != nil {
		eaasv1.RegisterKeyManagerServer(r.grpc, rpc.KeyManagerServer{M: keys})
	}
	if crypto != nil {
		eaasv1.RegisterCryptorServer(r.grpc, rpc.CryptorServer{C: crypto})
	}
	if r.Coordinator != nil {
		eaasv1.RegisterCoordinatorServer(r.grpc, rpc.CoordinatorServer{C: r.Coordinator})
	}
	if r.Registrar != nil {
		eaasv1.RegisterRegistrarServer(r.grpc, rpc.RegistrarServer{R: r.Registrar})
	}
	go func() { r.done <- r.grpc.Serve(l) }()
	cfg.Log.Info().Str("addr", l.Addr().String()).Strs("roles", cfg.Roles).Str("name", cfg.Name).Msg("eaas roles serving")
	return nil
}

// Mount adds the requester endpoints to the check port's mux.
func (r *Running) Mount(mux *http.ServeMux) {
	if r.Requesters != nil {
		r.Requesters.Register(mux)
	}
}

// Wait returns when the gRPC server fails.
func (r *Running) Wait() <-chan error { return r.done }

// Stop drains the gRPC API and closes connections and the store.
func (r *Running) Stop() {
	if r.cancel != nil {
		r.cancel()
	}
	if r.grpc != nil {
		r.grpc.GracefulStop()
	}
	for _, c := range r.conns {
		_ = c.Close()
	}
	if r.ownStore && r.store != nil {
		_ = r.store.Close()
	}
}
