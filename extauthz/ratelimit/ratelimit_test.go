package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	l := New(1000)
	clock := time.Unix(0, 0)
	l.now = func() time.Time { return clock }
	allowed := func(key string, n int) int {
		k := 0
		for i := 0; i < n; i++ {
			if l.Allow(key, 10, 5) {
				k++
			}
		}
		return k
	}
	if got := allowed("a", 20); got != 5 {
		t.Fatalf("a burst of 20 let %d through, want the burst of 5", got)
	}
	if got := allowed("b", 3); got != 3 {
		t.Fatalf("another key is limited by a's bucket: %d of 3", got)
	}
	clock = clock.Add(300 * time.Millisecond) // 3 tokens at 10/s
	if got := allowed("a", 10); got != 3 {
		t.Fatalf("after 300 ms, %d through, want 3", got)
	}
	l.Allow("a", 1000, 1000) // the policy raised the limit
	clock = clock.Add(10 * time.Millisecond)
	n := 0
	for l.Allow("a", 1000, 1000) {
		n++
	}
	if n < 9 || n > 11 {
		t.Fatalf("10 ms at the raised limit (1000/s) let %d through, want about 10", n)
	}
}

func TestBounded(t *testing.T) {
	l := New(640)
	for i := 0; i < 100_000; i++ {
		l.Allow(fmt.Sprint("k", i), 1, 1)
	}
	if n := l.Len(); n > 640 {
		t.Fatalf("%d buckets, bound 640", n)
	}
}
