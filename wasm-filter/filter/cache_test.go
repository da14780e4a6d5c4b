package filter

import (
	"testing"
	"time"
)

func TestDecisionCache(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := newDecisionCache(2, time.Second)
	allow := cached{allow: true, expires: t0.Add(5 * time.Second)}

	c.put("a", allow, "A", 7, t0) // the first instance to answer is confirmed by it
	if _, ok := c.get("a", t0.Add(time.Millisecond)); !ok {
		t.Fatal("fresh entry missing")
	}
	if _, ok := c.get("a", t0.Add(1500*time.Millisecond)); ok {
		t.Fatal("used although the epoch was not confirmed for 1.5 s")
	}
	c.observe("A", 7, t0.Add(1500*time.Millisecond))
	if _, ok := c.get("a", t0.Add(1600*time.Millisecond)); !ok {
		t.Fatal("a confirmed epoch makes the entry usable again")
	}
	if _, ok := c.get("a", t0.Add(5*time.Second)); ok {
		t.Fatal("expired entry used")
	}
	c.observe("A", 8, t0.Add(2*time.Second))
	if _, ok := c.get("a", t0.Add(2*time.Second)); ok {
		t.Fatal("entry survived an epoch change")
	}
	c.put("old", allow, "A", 7, t0.Add(2*time.Second))
	if _, ok := c.get("old", t0.Add(2*time.Second)); ok {
		t.Fatal("an answer from an older epoch was cached")
	}
	c.put("x", allow, "A", 8, t0.Add(2*time.Second))
	c.put("y", allow, "A", 8, t0.Add(2*time.Second))
	c.put("z", allow, "A", 8, t0.Add(2*time.Second))
	if len(c.entries) > 2 {
		t.Fatalf("%d entries, max 2", len(c.entries))
	}
	long := string(make([]byte, maxKeyBytes+1))
	c.put(long, allow, "A", 8, t0.Add(2*time.Second))
	if _, ok := c.get(long, t0.Add(2*time.Second)); ok {
		t.Fatal("cached an entry with a key past maxKeyBytes")
	}
	off := newDecisionCache(0, time.Second)
	off.observe("A", 1, t0)
	off.put("a", allow, "A", 1, t0)
	if _, ok := off.get("a", t0); ok {
		t.Fatal("a disabled cache returned an entry")
	}
}

// Replicas with separate quarantine sets behind one cluster: the cache
// follows one instance, and never takes one's epoch for another's.
func TestDecisionCacheAcrossInstances(t *testing.T) {
	t0 := time.Unix(1000, 0)
	allow := cached{allow: true, expires: t0.Add(time.Minute)}
	fresh := func(instance string, epoch uint64) *decisionCache {
		c := newDecisionCache(10, time.Second)
		c.observe(instance, epoch, t0)
		c.put("k", allow, instance, epoch, t0)
		if _, ok := c.get("k", t0); !ok {
			t.Fatal("setup: entry not cached")
		}
		return c
	}
	tests := []struct {
		name string
		step func(c *decisionCache)
	}{
		// The finding: B started later, so B's epoch is higher; pre-fix the
		// filter ignored every lower epoch, A's quarantine included.
		{"another instance with a lower epoch answers", func(c *decisionCache) { c.observe("A", 5, t0) }},
		{"another instance with a higher epoch answers", func(c *decisionCache) { c.observe("A", 1<<62, t0) }},
		{"another instance with the same epoch answers", func(c *decisionCache) { c.observe("A", 100, t0) }},
		{"another instance's cacheable answer", func(c *decisionCache) { c.put("j", allow, "A", 100, t0) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := fresh("B", 100)
			tc.step(c)
			if _, ok := c.get("k", t0); ok {
				t.Fatal("B's answer survived an answer from A")
			}
			if _, ok := c.get("j", t0); ok {
				t.Fatal("an answer from an instance other than the confirmed one was cached")
			}
			if c.instance != "A" {
				t.Fatalf("confirmed instance %q, want A (the last to answer)", c.instance)
			}
		})
	}
	c := fresh("B", 100)
	c.observe("", 200, t0.Add(time.Millisecond))
	if _, ok := c.get("k", t0.Add(time.Millisecond)); !ok || c.epoch != 100 || !c.confirmed.Equal(t0) {
		t.Fatal("an answer naming no instance changed or confirmed the cache")
	}
	c.put("n", allow, "", 100, t0)
	if _, ok := c.get("n", t0); ok {
		t.Fatal("cached an answer naming no instance")
	}
}
