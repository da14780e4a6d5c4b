// Package store keeps the agent's container profiles across restarts in a
// bbolt file: a bucket per container, a key per image version, and which
// version the container ran last, so that a new version starts from it.
package store

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	root      = []byte("profiles")
	latestKey = []byte("latest")
)

const versionPrefix = "v/"

// Store is an open profile file. It is safe for concurrent use.
type Store struct{ db *bolt.DB }

// Open opens (or creates) the file. Only one process may hold it.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(root); return err }); err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

func check(container, version string) error {
	if container == "" || version == "" {
		return errors.New("store: a profile needs a container and a version")
	}
	return nil
}

// Save writes a container version's encoded profile and makes it the
// container's latest version.
func (s *Store) Save(container, version string, profile []byte) error {
	if err := check(container, version); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(root).CreateBucketIfNotExists([]byte(container))
		if err != nil {
			return err
		}
		if err := b.Put([]byte(versionPrefix+version), profile); err != nil {
			return err
		}
		return b.Put(latestKey, []byte(version))
	})
}

// Load reads a container version's profile: nil when there is none.
func (s *Store) Load(container, version string) ([]byte, error) {
	if err := check(container, version); err != nil {
		return nil, err
	}
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(root).Bucket([]byte(container)); b != nil {
			out = clone(b.Get([]byte(versionPrefix + version)))
		}
		return nil
	})
	return out, err
}

// Latest reads the version a container ran last and its profile ("" and
// nil when the container is unknown).
func (s *Store) Latest(container string) (string, []byte, error) {
	var version string
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(root).Bucket([]byte(container))
		if b == nil {
			return nil
		}
		version = string(b.Get(latestKey))
		out = clone(b.Get([]byte(versionPrefix + version)))
		return nil
	})
	return version, out, err
}

// bolt's slices live only as long as their transaction.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
