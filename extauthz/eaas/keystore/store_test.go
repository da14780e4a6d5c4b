package keystore

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestBoltReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	s, err := OpenBolt(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := s.Put(ctx, "k", []byte("kept"), 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = OpenBolt(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	it, err := s.Get(ctx, "k")
	if err != nil || string(it.Value) != "kept" || it.Rev != r1 {
		t.Fatalf("after reopen: %+v, %v", it, err)
	}
	r2, err := s.Put(ctx, "k", []byte("next"), r1)
	if err != nil || r2 <= r1 {
		t.Fatalf("revisions after reopen: %d after %d, %v", r2, r1, err)
	}
}

func TestBoltCorruptRecord(t *testing.T) {
	s, err := OpenBolt(filepath.Join(t.TempDir(), "keys.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(boltBucket).Put([]byte("k"), []byte{1, 2}) }); err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(context.Background(), "k")
	if err == nil || !strings.Contains(err.Error(), `record "k": 2 bytes`) {
		t.Fatalf("Get of a 2-byte record: %v, want an error naming the record and its size", err)
	}
	if _, err := s.Put(context.Background(), "k", nil, 0); err == nil || errors.Is(err, ErrConflict) {
		t.Fatalf("Put over a corrupt record: %v, want the corruption reported", err)
	}
}
