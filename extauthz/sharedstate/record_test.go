package sharedstate

import (
	"strings"
	"testing"
	"time"

	"github.com/meshward/meshward/extauthz/quarantine"
)

const p = DefaultPrefix

func TestRecordRoundTrip(t *testing.T) {
	e := quarantine.Entry{Workload: "spiffe://cluster.local/ns/shop/sa/front end/..%2f", Reason: "shell",
		Score: 0.9, Evidence: []string{"execve /bin/sh"}, Since: time.UnixMilli(1000), Expires: time.UnixMilli(61000)}
	v, err := encodeEntry(e)
	if err != nil {
		t.Fatal(err)
	}
	key := quarantineKey(p, e.Workload)
	if strings.Contains(strings.TrimPrefix(key, p+quarantinePart), "/") {
		t.Fatalf("key %q: the workload's slash reached the key", key)
	}
	got, err := decodeEntry(p, []byte(key), v)
	if err != nil || !sameEntry(got, e) {
		t.Fatalf("decode = %+v, %v; want %+v", got, err, e)
	}
}

// TestRecordRefused: what another writer of etcd may have put is refused,
// with an error that says what is wrong.
func TestRecordRefused(t *testing.T) {
	key := quarantineKey(p, "w")
	for _, tc := range []struct {
		name, key, value, want string
	}{
		{"another workload in the value", key, `{"v":1,"workload":"x","reason":"r","since_ms":1}`, "differs from the key"},
		{"version", key, `{"v":2,"workload":"w","reason":"r","since_ms":1}`, `"v" is 2`},
		{"no reason", key, `{"v":1,"workload":"w","since_ms":1}`, `"reason"`},
		{"score", key, `{"v":1,"workload":"w","reason":"r","score":7,"since_ms":1}`, `"score"`},
		{"expiry before since", key, `{"v":1,"workload":"w","reason":"r","since_ms":5,"expires_ms":4}`, `"expires_ms"`},
		{"unknown field", key, `{"v":1,"workload":"w","reason":"r","since_ms":1,"admin":true}`, "unknown field"},
		{"trailing data", key, `{"v":1,"workload":"w","reason":"r","since_ms":1}{}`, "data after"},
		{"not JSON", key, `\x00\xff`, "value"},
		{"too large", key, `{"v":1,"workload":"w","reason":"` + strings.Repeat("a", MaxValueBytes) + `"}`, "limit"},
		{"evidence", key, `{"v":1,"workload":"w","reason":"r","since_ms":1,"evidence":["` + strings.Repeat("a", MaxEvidenceBytes+1) + `"]}`, `"evidence"[0]`},
		{"blank workload", p + quarantinePart + "%20", `{}`, "workload of 1 bytes"},
		{"other escaping", p + quarantinePart + "%77", `{}`, "canonical"},
		{"bad escape", p + quarantinePart + "%zz", `{}`, "key"},
		{"outside the prefix", "/elsewhere/w", `{}`, "not under"},
	} {
		_, err := decodeEntry(p, []byte(tc.key), []byte(tc.value))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to say %q", tc.name, err, tc.want)
		}
	}
}

// TestEncodeBounds: commentary beyond the bounds is cut, never a reason to
// drop a quarantine; a workload beyond its bound is refused.
func TestEncodeBounds(t *testing.T) {
	e := quarantine.Entry{Workload: "w", Reason: strings.Repeat("r", 1000), Evidence: make([]string, 100)}
	for i := range e.Evidence {
		e.Evidence[i] = strings.Repeat("é", 1000)
	}
	v, err := encodeEntry(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeEntry(p, []byte(quarantineKey(p, "w")), v)
	if err != nil || len(got.Evidence) != MaxEvidence || len(got.Reason) != MaxReasonBytes {
		t.Fatalf("decode = %d evidence, reason %d bytes, %v", len(got.Evidence), len(got.Reason), err)
	}
	if _, err := encodeEntry(quarantine.Entry{Workload: strings.Repeat("w", MaxWorkloadBytes+1)}); err == nil {
		t.Fatal("an oversized workload was encoded")
	}
}

// FuzzDecodeEntry: no key or value makes the decoder panic, and what it
// accepts is within the bounds and encodes back to a record it accepts.
func FuzzDecodeEntry(f *testing.F) {
	v, _ := encodeEntry(quarantine.Entry{Workload: "w", Reason: "r", Since: time.UnixMilli(1), Expires: time.UnixMilli(9)})
	f.Add([]byte(quarantineKey(p, "w")), v)
	f.Add([]byte(quarantineKey(p, "a/b")), []byte(`{"v":1,"workload":"a/b","reason":"x","since_ms":0}`))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		e, err := decodeEntry(p, key, value)
		if err != nil {
			return
		}
		if len(e.Workload) > MaxWorkloadBytes || len(e.Reason) > MaxReasonBytes || len(e.Evidence) > MaxEvidence {
			t.Fatalf("accepted out of bounds: %d %d %d", len(e.Workload), len(e.Reason), len(e.Evidence))
		}
		again, err := encodeEntry(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeEntry(p, key, again); err != nil {
			t.Fatalf("re-encoded record refused: %v", err)
		}
	})
}
