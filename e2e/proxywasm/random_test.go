package proxywasm

import (
	"bytes"
	"testing"
)

// random_get refuses what Envoy refuses: more than 64 KiB in one call.
func TestRandomGetHasEnvoysBound(t *testing.T) {
	for _, c := range []struct {
		n  int
		ok bool
	}{{1, true}, {maxRandomGet, true}, {maxRandomGet + 1, false}, {1 << 20, false}} {
		b := make([]byte, c.n)
		n, err := envoyRandom{}.Read(b)
		if (err == nil) != c.ok || (c.ok && n != c.n) {
			t.Errorf("%d bytes: n=%d err=%v, want ok=%v", c.n, n, err, c.ok)
		}
		if c.ok && c.n == maxRandomGet && bytes.Equal(b, make([]byte, c.n)) {
			t.Error("64 KiB of zeros")
		}
	}
}
