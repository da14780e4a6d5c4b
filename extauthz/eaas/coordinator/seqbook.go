package coordinator

import (
	"errors"
	"fmt"
	"sync"
)

// Sequence accounting. A requester's sidecar may run several filter VMs that
// share its requester id, so each VM leases a block of sequence numbers no
// other VM gets; the coordinator accepts each number once, and only inside a
// live block. An envelope's sequence number is the one its encryption used,
// so the same blocks say whether a ciphertext was made here and whether it
// was already decrypted: each decrypts once.

// ErrStale is a sequence number outside every live block, or one seen before.
var ErrStale = errors.New("sequence number stale or replayed")

// ErrExhausted is a requester that used up its n-bit sequence space.
var ErrExhausted = errors.New("sequence space exhausted")

// Reserver makes a requester's next unleased sequence number durable, so a
// restarted coordinator never leases a number twice. Reserve is called
// rarely: once per ReserveAhead leases.
type Reserver interface {
	Reserve(requester string, upTo uint64) error
	Reserved(requester string) (uint64, error)
}

type block struct {
	start  uint64
	count  int
	used   []uint64 // the requester sent a frame with this number
	sealed []uint64 // an encryption with this number succeeded
	opened []uint64 // its envelope was decrypted
}

func newBlock(start uint64, count int) *block {
	w := (count + 63) / 64
	return &block{start: start, count: count, used: make([]uint64, w), sealed: make([]uint64, w), opened: make([]uint64, w)}
}

func (b *block) index(seq uint64) (int, bool) {
	if seq < b.start || seq-b.start >= uint64(b.count) {
		return 0, false
	}
	return int(seq - b.start), true
}

func testAndSet(bits []uint64, i int) bool {
	w, m := i/64, uint64(1)<<(i%64)
	was := bits[w]&m != 0
	bits[w] |= m
	return was
}

func clear(bits []uint64, i int) { bits[i/64] &^= 1 << (i % 64) }

func isSet(bits []uint64, i int) bool { return bits[i/64]&(1<<(i%64)) != 0 }

// book is one requester's blocks.
type book struct {
	next     uint64 // first number never leased
	reserved uint64 // numbers below are durable as leased
	blocks   []*block
}

// seqBooks holds every requester's book.
type seqBooks struct {
	mu        sync.Mutex
	count     int // numbers per block
	maxBlocks int // live blocks per requester; the oldest is dropped
	ahead     int // blocks reserved per durable write
	store     Reserver
	books     map[string]*book
}

func newSeqBooks(count, maxBlocks int, store Reserver) *seqBooks {
	return &seqBooks{count: count, maxBlocks: maxBlocks, ahead: 64, store: store, books: map[string]*book{}}
}

func (s *seqBooks) book(key string) (*book, error) {
	if b, ok := s.books[key]; ok {
		return b, nil
	}
	b := &book{}
	if s.store != nil {
		r, err := s.store.Reserved(key)
		if err != nil {
			return nil, fmt.Errorf("reading sequence reservation: %w", err)
		}
		// Numbers reserved by an earlier run may have been leased: never again.
		b.next, b.reserved = r, r
	}
	s.books[key] = b
	return b, nil
}

// lease hands out the next block of a requester whose numbers have n bits.
// A small space (the seed's n = 12) gets small blocks, so that restarts and
// many VMs do not use it up at once.
func (s *seqBooks) lease(key string, n uint8) (uint64, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.book(key)
	if err != nil {
		return 0, 0, err
	}
	space := uint64(1)<<n - 1 // all ones is never leased
	if n >= 64 {
		space = ^uint64(0)
	}
	count := uint64(max(1, min(uint64(s.count), space>>8)))
	if b.next >= space || space-b.next < count {
		return 0, 0, fmt.Errorf("%w: requester %s used all %d-bit sequence numbers", ErrExhausted, key, n)
	}
	end := b.next + count
	if end > b.reserved && s.store != nil {
		ahead := uint64(s.ahead)
		if space>>24 == 0 {
			ahead = 4
		}
		upTo := min(b.next+count*ahead, space)
		if err := s.store.Reserve(key, upTo); err != nil {
			return 0, 0, fmt.Errorf("reserving sequence numbers: %w", err)
		}
		b.reserved = upTo
	}
	blk := newBlock(b.next, int(count))
	b.next = end
	if len(b.blocks) >= s.maxBlocks {
		b.blocks = append(b.blocks[:0], b.blocks[1:]...)
	}
	b.blocks = append(b.blocks, blk)
	return blk.start, int(count), nil
}

// find returns the live block holding seq.
func (s *seqBooks) find(key string, seq uint64) (*block, int, bool) {
	b, ok := s.books[key]
	if !ok {
		return nil, 0, false
	}
	for _, blk := range b.blocks {
		if i, ok := blk.index(seq); ok {
			return blk, i, true
		}
	}
	return nil, 0, false
}

// use accepts a frame's sequence number once.
func (s *seqBooks) use(key string, seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	blk, i, ok := s.find(key, seq)
	if !ok || testAndSet(blk.used, i) {
		return ErrStale
	}
	return nil
}

// sealed records that the encryption numbered seq succeeded.
func (s *seqBooks) sealed(key string, seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if blk, i, ok := s.find(key, seq); ok {
		testAndSet(blk.sealed, i)
	}
}

// open claims the right to decrypt src's envelope numbered seq: it must have
// been sealed here and never opened. release gives the claim back when the
// decryption fails, so a forged copy cannot burn the real one.
func (s *seqBooks) open(src string, seq uint64) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	blk, i, ok := s.find(src, seq)
	if !ok || !isSet(blk.sealed, i) || testAndSet(blk.opened, i) {
		return nil, ErrStale
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		clear(blk.opened, i)
	}, nil
}
