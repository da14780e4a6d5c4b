package keystore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

var boltBucket = []byte("eaas-keys")

// revBytes is the length of the revision kept in front of every bolt value.
const revBytes = 8

// Bolt is a Store in a bbolt file. Every Put is one bolt transaction that
// is written and fsynced before Put returns; only one process may hold the
// file.
type Bolt struct {
	db   *bolt.DB
	path string
}

// OpenBolt opens or creates the file (mode 0600). It waits at most lockWait
// for another process to let go of the file.
func OpenBolt(path string, lockWait time.Duration) (*Bolt, error) {
	_, statErr := os.Stat(path)
	// NoSync stays false: a key is used only once its write reached the disk.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockWait, NoSync: false})
	if err != nil {
		return nil, fmt.Errorf("keystore: bolt %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(boltBucket); return err })
	if err == nil && errors.Is(statErr, os.ErrNotExist) {
		err = SyncDir(filepath.Dir(path))
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("keystore: bolt %s: %w", path, err)
	}
	return &Bolt{db: db, path: path}, nil
}

// SyncDir makes a new file's directory entry durable, which fsyncs of the
// file itself do not.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (b *Bolt) wrap(err error) error {
	switch {
	case err == nil, errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict):
		return err
	case errors.Is(err, bolt.ErrDatabaseNotOpen):
		return ErrClosed
	}
	return fmt.Errorf("keystore: bolt %s: %w", b.path, err)
}

func decodeBolt(key string, raw []byte) (Item, error) {
	if len(raw) < revBytes {
		return Item{}, fmt.Errorf("record %q: %d bytes, shorter than its %d-byte revision", key, len(raw), revBytes)
	}
	return Item{Key: key, Rev: binary.BigEndian.Uint64(raw), Value: bytes.Clone(raw[revBytes:])}, nil
}

// Get implements Store.
func (b *Bolt) Get(ctx context.Context, key string) (Item, error) {
	if err := ctx.Err(); err != nil {
		return Item{}, err
	}
	if err := CheckKey(key); err != nil {
		return Item{}, err
	}
	var it Item
	err := b.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(boltBucket).Get([]byte(key))
		if raw == nil {
			return ErrNotFound
		}
		var err error
		it, err = decodeBolt(key, raw)
		return err
	})
	return it, b.wrap(err)
}

// Put implements Store. bolt's Update returns after the commit's fsync.
func (b *Bolt) Put(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := CheckPut(key, value); err != nil {
		return 0, err
	}
	var next uint64
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(boltBucket)
		var cur uint64
		if raw := bk.Get([]byte(key)); raw != nil {
			it, err := decodeBolt(key, raw)
			if err != nil {
				return err
			}
			cur = it.Rev
		}
		if cur != rev {
			return ErrConflict
		}
		var err error
		if next, err = bk.NextSequence(); err != nil {
			return err
		}
		rec := binary.BigEndian.AppendUint64(make([]byte, 0, revBytes+len(value)), next)
		return bk.Put([]byte(key), append(rec, value...))
	})
	if err != nil {
		return 0, b.wrap(err)
	}
	return next, nil
}

// List implements Store. fn's own error comes back as it is.
func (b *Bolt) List(ctx context.Context, prefix string, fn func(Item) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var fnErr error
	err := b.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(boltBucket).Cursor()
		p := []byte(prefix)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			it, err := decodeBolt(string(k), v)
			if err != nil {
				return err
			}
			if fnErr = fn(it); fnErr != nil {
				return fnErr
			}
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	return b.wrap(err)
}

// Close implements Store.
func (b *Bolt) Close() error { return b.db.Close() }
