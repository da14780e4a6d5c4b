package rpc

import "sync"

// budget bounds the bytes of request bodies held at once, in total and per
// caller, so that a flood of large batches is turned away before it is read
// instead of filling memory.
type budget struct {
	mu        sync.Mutex
	total     int64
	perCaller int64
	used      int64
	byCaller  map[string]int64
}

func newBudget(total, perCaller int64) *budget {
	return &budget{total: total, perCaller: perCaller, byCaller: map[string]int64{}}
}

// take reserves n bytes for caller, or says which bound is full.
func (b *budget) take(caller string, n int64) (release func(), bound string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.total {
		return nil, "total"
	}
	if b.byCaller[caller]+n > b.perCaller {
		return nil, "caller"
	}
	b.used += n
	b.byCaller[caller] += n
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.used -= n
			if b.byCaller[caller] -= n; b.byCaller[caller] == 0 {
				delete(b.byCaller, caller)
			}
		})
	}, ""
}
