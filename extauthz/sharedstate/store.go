package sharedstate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meshward/meshward/extauthz/decision"
	"github.com/meshward/meshward/extauthz/quarantine"
)

// Config says where the shared state lives.
type Config struct {
	Client *clientv3.Client
	// Prefix holds the replicas' keys (default DefaultPrefix); replicas
	// that share a prefix share their state.
	Prefix string
	// Replica names this process in the epoch key and the logs.
	Replica string
	// WriteTimeout bounds one write to etcd (default 2 s); a quarantine
	// whose write fails is kept here and written again later.
	WriteTimeout time.Duration
	Log          zerolog.Logger
}

// DefaultPrefix is where the authorizer's shared state lives in etcd.
const DefaultPrefix = "/meshward/authz/"

// pageSize: etcd 3.4 counts the whole range for every page, so small pages
// make listing 100,000 records quadratic (pages of 2,048: 4.1 s; of 8,192:
// 1.6 to 2.5 s, of which 0.8 s is decoding). Memory is bounded by the client's largest answer (the caller's
// MaxCallRecvMsgSize): usual records make 2 MiB pages, and a page of huge
// ones that an etcd writer planted fails with that error, never OOMs.
const pageSize = 8192

// ErrNotShared says a quarantine holds on this replica and is queued for
// etcd, which did not take it: the other replicas learn of it when etcd
// returns.
var ErrNotShared = errors.New("quarantine applied on this replica only; etcd did not take it, it is queued")

// ErrUnavailable says etcd did not take a release, so nothing changed.
var ErrUnavailable = errors.New("etcd is unavailable; nothing changed")

// Store is one replica's view of the shared state.
type Store struct {
	cfg      Config
	c        *clientv3.Client
	set      *quarantine.Set
	instance string
	epochKey string
	epoch    atomic.Uint64
	refused  atomic.Uint64 // records refused as invalid
	relists  atomic.Uint64
	writes   atomic.Uint64

	mu       sync.Mutex
	shared   map[string]quarantine.Entry // as etcd has it, at applied
	overlay  map[string]*pending         // quarantines made here that etcd has not shown back yet
	policy   *pending                    // a policy change here the epoch key has not shown back yet
	applied  int64                       // the epoch key's revision in the state applied
	gen      uint64                      // local changes since applied
	advanced chan struct{}               // closed and replaced whenever applied moves

	kick   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// pending is a change made here; wrote is the revision etcd took it at (0:
// not yet).
type pending struct {
	e     quarantine.Entry
	wrote int64
	token string // the epoch key's value its write puts
}

// New returns a store; Start loads it.
func New(cfg Config) *Store {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 2 * time.Second
	}
	return &Store{cfg: cfg, c: cfg.Client, epochKey: cfg.Prefix + epochPart, shared: map[string]quarantine.Entry{},
		overlay: map[string]*pending{}, advanced: make(chan struct{}), kick: make(chan struct{}, 1)}
}

// Start loads the shared state into engine's quarantine set, makes the
// engine report the shared epoch, and keeps both current until Close. It
// fails if etcd does not answer before ctx ends: a replica that never saw
// the shared set must not answer for it.
func (s *Store) Start(ctx context.Context, engine *decision.Engine) error {
	s.set = engine.Quarantine()
	rev, err := s.relist(ctx)
	if err != nil {
		return fmt.Errorf("sharedstate: loading %s from etcd: %w", s.cfg.Prefix, err)
	}
	run, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(2)
	go s.watch(run, rev)
	go s.flush(run)
	// This replica's policies may differ from the others': a new epoch.
	put, err := s.c.Put(ctx, s.epochKey, s.cfg.Replica)
	if err == nil {
		err = s.waitApplied(ctx, put.Header.Revision)
	}
	if err != nil {
		s.Close()
		return fmt.Errorf("sharedstate: first epoch: %w", err)
	}
	s.set.ShareWith(s)
	engine.ShareEpoch(s)
	return nil
}

// Close stops watching and writing; the set keeps its last state.
func (s *Store) Close() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

// Epoch is the revision of the last change applied, with the changes made
// here since in the low bits: equal on replicas that applied the same
// changes, growing with each.
func (s *Store) Epoch() uint64 { return s.epoch.Load() }

// Instance names the shared state (etcd cluster and prefix), not this
// process: all replicas report it.
func (s *Store) Instance() string { return s.instance }

const genBits = 20

// token names one write of this replica's: when the watch shows the epoch
// key with it, the change it carried is in the state applied.
func (s *Store) token() string {
	return s.cfg.Replica + "#" + strconv.FormatUint(s.writes.Add(1), 10)
}

// setEpochLocked recomputes the epoch; it never goes back, even after more
// than 2^20 local changes during an outage.
func (s *Store) setEpochLocked() uint64 {
	if len(s.overlay) == 0 && s.policy == nil {
		s.gen = 0
	}
	v := uint64(s.applied)<<genBits + s.gen
	if old := s.epoch.Load(); v < old {
		v = old + 1
	}
	s.epoch.Store(v)
	return v
}

func instanceName(clusterID uint64, prefix string) string {
	h := sha256.Sum256([]byte(strconv.FormatUint(clusterID, 16) + "\x00" + prefix))
	return "etcd-" + hex.EncodeToString(h[:12])
}

// WaitRevision returns once the state applied here includes the epoch
// key's revision rev (what another replica wrote at rev), or ctx ends.
func (s *Store) WaitRevision(ctx context.Context, rev int64) error { return s.waitApplied(ctx, rev) }

// EpochKey is the key every change of the shared state puts.
func (s *Store) EpochKey() string { return s.epochKey }

// waitApplied returns once the state applied includes revision rev.
func (s *Store) waitApplied(ctx context.Context, rev int64) error {
	for {
		s.mu.Lock()
		done, ch := s.applied >= rev, s.advanced
		s.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Status is what an operator asks of the shared state.
type Status struct {
	Instance      string
	Epoch         uint64
	Revision      int64 // of the epoch key applied
	Quarantined   int   // in etcd, as applied
	Unshared      int   // quarantines made here that etcd has not shown back
	Refused       uint64
	Relists       uint64
	PolicyPending bool
}

// Status reports the store's state.
func (s *Store) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Status{Instance: s.instance, Epoch: s.epoch.Load(), Revision: s.applied, Quarantined: len(s.shared),
		Unshared: len(s.overlay), Refused: s.refused.Load(), Relists: s.relists.Load(), PolicyPending: s.policy != nil}
}
