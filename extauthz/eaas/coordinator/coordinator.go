// Package coordinator is the EaaS coordinator of seed 001 (Fig. 5): it binds
// each requester to its mesh identity, checks tokens and sequence numbers,
// drops fakes after reading their header, has the pair's key fetched from a
// key manager and the cryptography done by a cryptor (least-loaded healthy
// replicas, another one on failure), seals the result into an envelope bound
// to pair and position, and hides each decryption among fakes. It knows
// nothing of gRPC or HTTP: transports hand it frames and a verified identity.
package coordinator

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/meshward/meshward/api/eaas"
	"github.com/meshward/meshward/extauthz/eaas/keymanager"
	"github.com/meshward/meshward/extauthz/eaas/subscriber"
)

// Keys is a key manager replica: Key gets or makes a pair's key (to
// encrypt), Lookup only gets one (to decrypt or rewrap: a ciphertext can only
// exist under a key that does).
type Keys interface {
	Key(ctx context.Context, pair keymanager.PairID, cipher keymanager.Cipher) (keymanager.Key, error)
	Lookup(ctx context.Context, pair keymanager.PairID, cipher keymanager.Cipher) (keymanager.Key, error)
}

// Crypto is a cryptor replica.
type Crypto interface {
	Seal(ctx context.Context, key keymanager.Key, ad, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, key keymanager.Key, ad, ciphertext []byte) ([]byte, error)
	Rewrap(ctx context.Context, key keymanager.Key, ad, ciphertext []byte) ([]byte, error)
}

// Defaults.
const (
	DefaultLeaseSize    = 1024
	DefaultMaxLeases    = 64
	DefaultMaxBodyBytes = 8 << 20
)

// Config is one coordinator.
type Config struct {
	ID           string
	Keys         *Pool[Keys]
	Cryptors     *Pool[Crypto]
	State        State // nil: memory only
	LeaseSize    int   // sequence numbers per lease
	MaxLeases    int   // live leases per requester
	MaxBodyBytes int   // plaintext bound per message
	Observer     Observer
}

// Coordinator serves requesters.
type Coordinator struct {
	cfg  Config
	dir  *directory
	seqs *seqBooks
	obs  Observer
	// assigning makes an assignment's check, durable write and publication
	// one step: two registrations racing for one principal must not both
	// reach the state, or the next start would refuse to load it.
	assigning sync.Mutex
}

// New loads the subscribers from the state and starts serving.
func New(cfg Config) (*Coordinator, error) {
	if cfg.ID == "" {
		return nil, fmt.Errorf("coordinator: an id is required")
	}
	if cfg.State == nil {
		cfg.State = NewMemoryState()
	}
	cfg.LeaseSize = orDefault(cfg.LeaseSize, DefaultLeaseSize)
	cfg.MaxLeases = orDefault(cfg.MaxLeases, DefaultMaxLeases)
	cfg.MaxBodyBytes = orDefault(cfg.MaxBodyBytes, DefaultMaxBodyBytes)
	c := &Coordinator{cfg: cfg, dir: newDirectory(), seqs: newSeqBooks(cfg.LeaseSize, cfg.MaxLeases, cfg.State),
		obs: cfg.Observer}
	if c.obs == nil {
		c.obs = NopObserver{}
	}
	subs, err := cfg.State.Subscribers()
	if err != nil {
		return nil, fmt.Errorf("coordinator %s: loading subscribers: %w", cfg.ID, err)
	}
	for _, s := range subs {
		if s.Coordinator != cfg.ID {
			// Another coordinator's (a store shared through etcd): a
			// requester's sequence books live with one coordinator only.
			continue
		}
		if err := c.dir.put(s); err != nil {
			return nil, fmt.Errorf("coordinator %s: subscriber %d: %w", cfg.ID, s.ID, err)
		}
	}
	return c, nil
}

func orDefault(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}

// ID is the coordinator's id (C_ID in Fig. 4).
func (c *Coordinator) ID() string { return c.cfg.ID }

// Assign takes a subscriber from a registrar (Fig. 4): stored durably first,
// then served.
func (c *Coordinator) Assign(_ context.Context, s subscriber.Subscriber) (string, error) {
	s.Coordinator = c.cfg.ID
	if err := s.Validate(); err != nil {
		return "", err
	}
	c.assigning.Lock()
	defer c.assigning.Unlock()
	if err := c.dir.check(s); err != nil {
		return "", err
	}
	if err := c.cfg.State.SaveSubscriber(s); err != nil {
		return "", fmt.Errorf("storing subscriber %d: %w", s.ID, err)
	}
	if err := c.dir.put(s); err != nil {
		return "", err
	}
	c.obs.Subscriber(s.ID, s.Widths.T)
	return c.cfg.ID, nil
}

// Subscribers lists what this coordinator serves.
func (c *Coordinator) Subscribers() []subscriber.Subscriber { return c.dir.all() }

// Replicas reports the key managers and cryptors.
func (c *Coordinator) Replicas() []ReplicaState {
	var out []ReplicaState
	if c.cfg.Keys != nil {
		out = append(out, c.cfg.Keys.States()...)
	}
	if c.cfg.Cryptors != nil {
		out = append(out, c.cfg.Cryptors.States()...)
	}
	return out
}

// principal strips the scheme from a SPIFFE ID.
func principal(id string) string { return strings.TrimPrefix(id, "spiffe://") }

// requesterKey names a requester in the sequence books and the state.
func requesterKey(sub, requester uint32) string { return fmt.Sprintf("%d/%d", sub, requester) }

// Enrol answers a requester's enrolment: who it is, its token, its peers and
// a fresh lease of sequence numbers.
func (c *Coordinator) Enrol(callerID string) (eaas.Enrolment, error) {
	start := time.Now()
	ref, ok := c.dir.member(principal(callerID))
	if !ok {
		c.obs.Request("enrol", ReasonNotMember)
		return eaas.Enrolment{}, refuse(KindForbidden, ReasonNotMember, "%s is not a member of any subscriber", callerID)
	}
	s := ref.sub
	first, count, err := c.seqs.lease(requesterKey(s.ID, ref.requester), s.Widths.N)
	if err != nil {
		c.obs.Request("enrol", ReasonStale)
		return eaas.Enrolment{}, refuse(KindStale, ReasonStale, "%v", err)
	}
	e := eaas.Enrolment{Version: 1, Coordinator: c.cfg.ID, Subscriber: s.ID, Requester: ref.requester,
		Widths: s.Widths, Token: s.Token, Seq: eaas.SeqLease{Start: first, Count: uint64(count)}, Cipher: s.CipherID(),
		MaxBodyBytes: int64(c.maxBody(s)), Peers: []eaas.Peer{}}
	for _, m := range s.Members {
		if m.Requester != ref.requester {
			e.Peers = append(e.Peers, eaas.Peer{Requester: m.Requester, Principal: m.Principal,
				Hosts: append([]string{}, m.Hosts...)}) // [] not null: the filter's decoder is strict
		}
	}
	c.obs.Request("enrol", "ok")
	c.obs.Stage("coordinator", time.Since(start))
	return e, nil
}

// MaxBatchBytes bounds what one requester's request holds in the
// coordinator: its batch and, for a decryption, the 2^t frames of the answer.
const MaxBatchBytes = 64 << 20

// maxBody is the largest plaintext a subscriber's message may carry: the
// coordinator's bound, less for a high deception factor, since a decryption
// request (one envelope) is answered by 2^t frames of its plaintext's size,
// and both are held at once.
func (c *Coordinator) maxBody(s *subscriber.Subscriber) int {
	return min(c.cfg.MaxBodyBytes, MaxBatchBytes/(s.Messages()+1)-envelopeOverhead-2*frameOverhead)
}
