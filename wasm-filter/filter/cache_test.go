package filter

import (
	"testing"
	"time"
)

func TestDecisionCache(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := newDecisionCache(2, time.Second)
	allow := cached{allow: true, expires: t0.Add(5 * time.Second)}

	c.put("a", allow, 7, t0)
	if _, ok := c.get("a", t0.Add(time.Millisecond)); !ok {
		t.Fatal("fresh entry missing")
	}
	if _, ok := c.get("a", t0.Add(1500*time.Millisecond)); ok {
		t.Fatal("used although the epoch was not confirmed for 1.5 s")
	}
	c.observe(7, t0.Add(1500*time.Millisecond))
	if _, ok := c.get("a", t0.Add(1600*time.Millisecond)); !ok {
		t.Fatal("a confirmed epoch makes the entry usable again")
	}
	if _, ok := c.get("a", t0.Add(5*time.Second)); ok {
		t.Fatal("expired entry used")
	}
	c.observe(8, t0.Add(2*time.Second))
	if _, ok := c.get("a", t0.Add(2*time.Second)); ok {
		t.Fatal("entry survived an epoch change")
	}
	c.put("old", allow, 7, t0.Add(2*time.Second))
	if _, ok := c.get("old", t0.Add(2*time.Second)); ok {
		t.Fatal("an answer from an older epoch was cached")
	}
	c.put("x", allow, 8, t0.Add(2*time.Second))
	c.put("y", allow, 8, t0.Add(2*time.Second))
	c.put("z", allow, 8, t0.Add(2*time.Second))
	if len(c.entries) > 2 {
		t.Fatalf("%d entries, max 2", len(c.entries))
	}
	off := newDecisionCache(0, time.Second)
	off.put("a", allow, 1, t0)
	if _, ok := off.get("a", t0); ok {
		t.Fatal("a disabled cache returned an entry")
	}
}
