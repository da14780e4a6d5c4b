package keystore

import (
	"bytes"
	"context"
	"sort"
	"strings"
	"sync"
)

// Memory is a Store that lives as long as the process: for tests and for a
// single process that can afford to lose its keys.
type Memory struct {
	mu     sync.Mutex
	items  map[string]Item
	rev    uint64
	closed bool
}

// NewMemory returns an empty Memory store.
func NewMemory() *Memory { return &Memory{items: map[string]Item{}} }

// Get implements Store.
func (m *Memory) Get(ctx context.Context, key string) (Item, error) {
	if err := ctx.Err(); err != nil {
		return Item{}, err
	}
	if err := CheckKey(key); err != nil {
		return Item{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Item{}, ErrClosed
	}
	it, ok := m.items[key]
	if !ok {
		return Item{}, ErrNotFound
	}
	it.Value = bytes.Clone(it.Value)
	return it, nil
}

// Put implements Store.
func (m *Memory) Put(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := CheckPut(key, value); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	if m.items[key].Rev != rev {
		return 0, ErrConflict
	}
	m.rev++
	m.items[key] = Item{Key: key, Value: bytes.Clone(value), Rev: m.rev}
	return m.rev, nil
}

// List implements Store.
func (m *Memory) List(ctx context.Context, prefix string, fn func(Item) error) error {
	items, err := m.snapshot(ctx, prefix)
	if err != nil {
		return err
	}
	for _, it := range items {
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}

func (m *Memory) snapshot(ctx context.Context, prefix string) ([]Item, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	var items []Item
	for k, it := range m.items {
		if strings.HasPrefix(k, prefix) {
			it.Value = bytes.Clone(it.Value)
			items = append(items, it)
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Key < items[j].Key })
	return items, nil
}

// Close implements Store.
func (m *Memory) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	return nil
}
