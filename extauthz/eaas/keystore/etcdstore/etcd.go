// Package etcdstore is a keystore.Store in etcd, so that replicas share keys,
// subscribers and sequence reservations.
package etcdstore

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meshward/meshward/extauthz/eaas/keystore"
)

// listPage bounds the items one List request to etcd brings back.
const listPage = 256

// Etcd is a keystore.Store in etcd, so that key manager replicas share keys. etcd
// answers a write once its log entry is fsynced on a quorum; revisions are
// etcd's mod revisions.
type Etcd struct {
	c      *clientv3.Client
	prefix string
	closed atomic.Bool
}

// OpenEtcd connects to etcd; every key the Store holds lives under prefix.
func OpenEtcd(cfg clientv3.Config, prefix string) (*Etcd, error) {
	c, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("keystore: etcd %v: %w", cfg.Endpoints, err)
	}
	return &Etcd{c: c, prefix: prefix}, nil
}

func (e *Etcd) wrap(err error) error {
	if e.closed.Load() {
		return keystore.ErrClosed
	}
	return fmt.Errorf("keystore: etcd: %w", err)
}

func (e *Etcd) ready(ctx context.Context) error {
	if e.closed.Load() {
		return keystore.ErrClosed
	}
	return ctx.Err()
}

// Get implements Store.
func (e *Etcd) Get(ctx context.Context, key string) (keystore.Item, error) {
	if err := e.ready(ctx); err != nil {
		return keystore.Item{}, err
	}
	if err := keystore.CheckKey(key); err != nil {
		return keystore.Item{}, err
	}
	resp, err := e.c.Get(ctx, e.prefix+key)
	if err != nil {
		return keystore.Item{}, e.wrap(err)
	}
	if len(resp.Kvs) == 0 {
		return keystore.Item{}, keystore.ErrNotFound
	}
	kv := resp.Kvs[0]
	return keystore.Item{Key: key, Value: bytes.Clone(kv.Value), Rev: uint64(kv.ModRevision)}, nil
}

// Put implements Store. A missing key's mod revision compares as 0.
func (e *Etcd) Put(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if err := e.ready(ctx); err != nil {
		return 0, err
	}
	if err := keystore.CheckPut(key, value); err != nil {
		return 0, err
	}
	if rev > 1<<62 {
		return 0, keystore.ErrConflict
	}
	k := e.prefix + key
	resp, err := e.c.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(k), "=", int64(rev))).
		Then(clientv3.OpPut(k, string(value))).
		Commit()
	if err != nil {
		return 0, e.wrap(err)
	}
	if !resp.Succeeded {
		return 0, keystore.ErrConflict
	}
	return uint64(resp.Header.Revision), nil
}

// List implements Store, a page at a time from one revision of etcd.
func (e *Etcd) List(ctx context.Context, prefix string, fn func(keystore.Item) error) error {
	if err := e.ready(ctx); err != nil {
		return err
	}
	start, end := e.prefix+prefix, clientv3.GetPrefixRangeEnd(e.prefix+prefix)
	var atRev int64
	for {
		resp, err := e.c.Get(ctx, start, clientv3.WithRange(end), clientv3.WithLimit(listPage), clientv3.WithRev(atRev),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
		if err != nil {
			return e.wrap(err)
		}
		atRev = resp.Header.Revision
		for _, kv := range resp.Kvs {
			it := keystore.Item{Key: strings.TrimPrefix(string(kv.Key), e.prefix), Value: bytes.Clone(kv.Value), Rev: uint64(kv.ModRevision)}
			if err := fn(it); err != nil {
				return err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// Close implements Store.
func (e *Etcd) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	return e.c.Close()
}
