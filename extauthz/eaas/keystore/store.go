// Package keystore keeps the key manager's encrypted keyset records. A Store
// never deletes: a key that was ever used to encrypt must outlive every
// ciphertext made with it, so the only write is a compare-and-swap Put.
package keystore

import (
	"context"
	"errors"
	"fmt"
)

// Limits on what a Store accepts, so that a caller cannot make it hold
// unbounded memory.
const (
	MaxKeyBytes   = 512
	MaxValueBytes = 1 << 20
)

var (
	// ErrNotFound: the key has no value.
	ErrNotFound = errors.New("keystore: not found")
	// ErrConflict: the key's revision was not the one the Put expected.
	ErrConflict = errors.New("keystore: revision conflict")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("keystore: closed")
)

// Item is a stored value and the revision that wrote it. Revisions are never
// 0 and grow with every write to the store.
type Item struct {
	Key   string
	Value []byte
	Rev   uint64
}

// Store is a durable map with compare-and-swap writes. Implementations are
// safe for concurrent use; a Put returns only once the value is durable.
type Store interface {
	// Get returns the key's item or ErrNotFound.
	Get(ctx context.Context, key string) (Item, error)
	// Put writes value when the key's current revision is rev (0: the key
	// must have no value) and returns the new revision, or ErrConflict.
	Put(ctx context.Context, key string, value []byte, rev uint64) (uint64, error)
	// List calls fn with every item whose key starts with prefix, in key
	// order, and stops at fn's first error. fn must not call the store.
	List(ctx context.Context, prefix string, fn func(Item) error) error
	// Close releases the store; later calls return ErrClosed.
	Close() error
}

func CheckKey(key string) error {
	if key == "" || len(key) > MaxKeyBytes {
		return fmt.Errorf("keystore: key of %d bytes: want 1 to %d", len(key), MaxKeyBytes)
	}
	return nil
}

func CheckPut(key string, value []byte) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if len(value) > MaxValueBytes {
		return fmt.Errorf("keystore: value of %d bytes for key %q: at most %d", len(value), key, MaxValueBytes)
	}
	return nil
}
