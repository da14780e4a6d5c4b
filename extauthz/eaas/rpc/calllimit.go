package rpc

import "sync"

// callLimit counts open calls per caller and in total.
type callLimit struct {
	mu               sync.Mutex
	perCaller, total int
	open             int
	byCaller         map[string]int
	released         func() // tests learn here that a call's slot came back
}

func newCallLimit(perCaller, total int) *callLimit {
	return &callLimit{perCaller: perCaller, total: total, byCaller: map[string]int{}}
}

func (l *callLimit) take(caller string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.total || l.byCaller[caller] >= l.perCaller {
		return false
	}
	l.open++
	l.byCaller[caller]++
	return true
}

func (l *callLimit) release(caller string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byCaller[caller]--; l.byCaller[caller] <= 0 {
		delete(l.byCaller, caller)
	}
	if l.released != nil {
		l.released()
	}
}
