package keymanager

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/meshward/meshward/extauthz/eaas/keystore"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// maxAttempts bounds the compare-and-swap retries of one operation: each
// retry means another writer won, so the store moved on.
const maxAttempts = 32

// cacheEntries bounds the opened records a Manager keeps.
const cacheEntries = 10000

// Manager hands out, rotates and retires the keysets of a store. Several
// Managers (replicas) may share one store.
type Manager struct {
	store keystore.Store
	kek   tink.AEAD
	now   func() time.Time

	mu    sync.Mutex
	cache map[PairID]opened
}

// opened is a record as read at a store revision, so that a Key call pays
// for the KEK decryption only when the record changed.
type opened struct {
	rev uint64
	rec *record
	key Key
}

// New returns a Manager over store, with records encrypted under kek.
func New(store keystore.Store, kek tink.AEAD) *Manager {
	return &Manager{store: store, kek: kek, now: time.Now, cache: map[PairID]opened{}}
}

// Key returns the pair's key for cipher ("" is DefaultCipher), creating the
// keyset if the pair has none. A created keyset is durable in the store
// before Key returns; when several managers create one at once, all return
// the one that was stored first.
func (m *Manager) Key(ctx context.Context, pair PairID, cipher Cipher) (Key, error) {
	pair, cipher = pair.normalised(), cipher.orDefault()
	if err := cipher.Valid(); err != nil {
		return Key{}, err
	}
	for range maxAttempts {
		o, err := m.read(ctx, pair)
		if err == nil {
			return o.keyOf(cipher)
		}
		if !errors.Is(err, ErrNoKeyset) {
			return Key{}, err
		}
		rec, err := newRecord(pair, cipher, m.now())
		if err != nil {
			return Key{}, err
		}
		o, err = m.write(ctx, rec, 0)
		if err == nil {
			return o.clone(), nil
		}
		if !errors.Is(err, keystore.ErrConflict) {
			return Key{}, err
		}
	}
	return Key{}, fmt.Errorf("keymanager: pair %s: %d concurrent writers in a row", pair, maxAttempts)
}

// Lookup returns the pair's key without creating one (ErrNoKeyset): for
// decryption, so that ciphertexts of made-up pairs cannot fill the store
// with keysets.
func (m *Manager) Lookup(ctx context.Context, pair PairID, cipher Cipher) (Key, error) {
	pair, cipher = pair.normalised(), cipher.orDefault()
	o, err := m.read(ctx, pair)
	if err != nil {
		return Key{}, err
	}
	return o.keyOf(cipher)
}

// keyOf returns a copy of the key, if it is of cipher.
func (o opened) keyOf(cipher Cipher) (Key, error) {
	if o.rec.Cipher != cipher {
		return Key{}, fmt.Errorf("pair %s: %w", o.rec.Pair, errCipher(cipher, o.rec.Cipher))
	}
	return o.clone(), nil
}

func (o opened) clone() Key {
	k := o.key
	k.Material = bytes.Clone(k.Material)
	return k
}

// read returns the pair's record, decrypting it only if the store's
// revision is not the cached one.
func (m *Manager) read(ctx context.Context, pair PairID) (opened, error) {
	it, err := m.store.Get(ctx, pair.storeKey())
	if errors.Is(err, keystore.ErrNotFound) {
		return opened{}, fmt.Errorf("%w: %s", ErrNoKeyset, pair)
	}
	if err != nil {
		return opened{}, err
	}
	m.mu.Lock()
	o, ok := m.cache[pair]
	m.mu.Unlock()
	if ok && o.rev == it.Rev {
		return o, nil
	}
	rec, err := openRecord(m.kek, pair, it.Value)
	if err != nil {
		return opened{}, err
	}
	return m.remember(it.Rev, rec)
}

func (m *Manager) remember(rev uint64, rec *record) (opened, error) {
	k, err := rec.key()
	if err != nil {
		return opened{}, fmt.Errorf("%w: pair %s: %v", ErrRecord, rec.Pair, err)
	}
	o := opened{rev: rev, rec: rec, key: k}
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.cache[rec.Pair]; ok && cur.rev > rev {
		return o, nil
	}
	if len(m.cache) >= cacheEntries {
		for p := range m.cache {
			delete(m.cache, p)
			break
		}
	}
	m.cache[rec.Pair] = o
	return o, nil
}

// write stores rec if the pair's record is still at rev (0: absent).
func (m *Manager) write(ctx context.Context, rec *record, rev uint64) (opened, error) {
	blob, err := rec.seal(m.kek)
	if err != nil {
		return opened{}, err
	}
	next, err := m.store.Put(ctx, rec.Pair.storeKey(), blob, rev)
	if err != nil {
		return opened{}, err
	}
	return m.remember(next, rec)
}

// errNoChange from an update's change: nothing to write.
var errNoChange = errors.New("no change")

// update applies change to the pair's current record and stores it,
// starting over when another writer got there first.
func (m *Manager) update(ctx context.Context, pair PairID, change func(*record) error) (*record, error) {
	pair = pair.normalised()
	for range maxAttempts {
		o, err := m.read(ctx, pair)
		if err != nil {
			return nil, err
		}
		rec := *o.rec
		rec.Versions = append([]versionMeta(nil), o.rec.Versions...)
		if err := change(&rec); errors.Is(err, errNoChange) {
			return o.rec, nil
		} else if err != nil {
			return nil, fmt.Errorf("pair %s: %w", pair, err)
		}
		if _, err = m.write(ctx, &rec, o.rev); err == nil {
			return &rec, nil
		}
		if !errors.Is(err, keystore.ErrConflict) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("keymanager: pair %s: %d concurrent writers in a row", pair, maxAttempts)
}

// Rotate adds a version to the pair's keyset and makes it the primary; the
// older versions still decrypt. It returns the new version.
func (m *Manager) Rotate(ctx context.Context, pair PairID) (uint32, error) {
	v, _, err := m.rotateIf(ctx, pair, func(*record) bool { return true })
	return v, err
}

// rotateIf rotates when due says so of the current record, so that replicas
// running one schedule do not each add a version.
func (m *Manager) rotateIf(ctx context.Context, pair PairID, due func(*record) bool) (uint32, bool, error) {
	rotated := false
	rec, err := m.update(ctx, pair, func(r *record) error {
		if rotated = due(r); !rotated {
			return errNoChange
		}
		if len(r.Versions) >= MaxVersions {
			return fmt.Errorf("%w: %d versions kept: retire and purge old ones first", ErrVersion, len(r.Versions))
		}
		v := r.primary() + 1
		mat, err := addVersion(r.Cipher, r.Material, v)
		if err != nil {
			return err
		}
		r.Material = mat
		r.Versions = append(r.Versions, versionMeta{v, m.now().UnixNano()})
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return rec.primary(), rotated, nil
}

// Retire makes version the oldest that decrypts: ciphertexts of older
// versions no longer open. Their key bytes stay (a lower Retire admits them
// again) until Purge. The primary cannot be retired.
func (m *Manager) Retire(ctx context.Context, pair PairID, version uint32) error {
	_, err := m.update(ctx, pair, func(r *record) error {
		if first := r.Versions[0].Version; version < first || version > r.primary() {
			return fmt.Errorf("%w: retire below version %d: versions with key bytes are %d to %d (primary)", ErrVersion, version, first, r.primary())
		}
		r.MinDecryption = version
		return nil
	})
	return err
}

// Purge deletes the key bytes of the retired versions: what they encrypted
// is lost for good. It returns how many versions it deleted. Nothing else
// ever deletes key bytes.
func (m *Manager) Purge(ctx context.Context, pair PairID) (int, error) {
	n := 0
	_, err := m.update(ctx, pair, func(r *record) error {
		n = int(r.MinDecryption - r.Versions[0].Version)
		if n == 0 {
			return errNoChange
		}
		mat, err := keepFrom(r.Cipher, r.Material, r.MinDecryption)
		if err != nil {
			return err
		}
		r.Material, r.PurgedBelow, r.Versions = mat, r.MinDecryption, r.Versions[n:]
		return nil
	})
	return n, err
}

// Info describes one pair's keyset.
func (m *Manager) Info(ctx context.Context, pair PairID) (KeyInfo, error) {
	o, err := m.read(ctx, pair.normalised())
	if err != nil {
		return KeyInfo{}, err
	}
	return o.rec.info(), nil
}

// List describes every keyset in the store, in pair order. A record that
// does not open fails the whole list, naming its pair.
func (m *Manager) List(ctx context.Context) ([]KeyInfo, error) {
	var out []KeyInfo
	err := m.store.List(ctx, storePrefix, func(it keystore.Item) error {
		p, ok := parseStoreKey(it.Key)
		if !ok {
			return fmt.Errorf("%w: store key %q names no pair", ErrRecord, strings.ToValidUTF8(it.Key, "?"))
		}
		rec, err := openRecord(m.kek, p, it.Value)
		if err != nil {
			return err
		}
		out = append(out, rec.info())
		return nil
	})
	return out, err
}

// RotateOlderThan rotates every keyset whose primary was created more than
// age ago (the rotation schedule) and returns the pairs it rotated.
func (m *Manager) RotateOlderThan(ctx context.Context, age time.Duration) ([]PairID, error) {
	infos, err := m.List(ctx)
	if err != nil {
		return nil, err
	}
	cutoff := m.now().Add(-age).UnixNano()
	due := func(r *record) bool { return r.Versions[len(r.Versions)-1].Created <= cutoff }
	var rotated []PairID
	for _, ki := range infos {
		_, did, err := m.rotateIf(ctx, ki.Pair, due)
		if err != nil {
			return rotated, err
		}
		if did {
			rotated = append(rotated, ki.Pair)
		}
	}
	return rotated, nil
}
