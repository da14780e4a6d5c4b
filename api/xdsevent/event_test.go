package xdsevent

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const orders = "spiffe://cluster.local/ns/shop/sa/orders"

func TestDecode(t *testing.T) {
	tests := []struct{ name, in, wantErr string }{
		{"scan", `{"kind":"scan","workload":"` + orders + `"}`, ""},
		{"quarantine with all", `{"kind":"quarantine","workload":"` + orders + `","service":"payments","reason":"lateral-movement:new-edges","ttl_seconds":600}`, ""},
		{"release", `{"kind":"release","workload":"` + orders + `"}`, ""},
		{"empty", ``, "empty body"},
		{"not an object", `[]`, `want "{" at offset 1, got "["`},
		{"null", `null`, `got null`},
		{"truncated", `{"kind":"scan"`, "truncated"},
		{"syntax", `{"kind":}`, "malformed JSON"},
		{"number kind", `{"kind":7,"workload":"` + orders + `"}`, `field "kind" at offset 9: want a string, got the number 7`},
		{"object workload", `{"kind":"scan","workload":{}}`, `field "workload" at offset 27: want a string`},
		{"unknown field", `{"kind":"scan","workload":"` + orders + `","x":1}`, `unknown field "x"`},
		{"other case", `{"Kind":"scan","workload":"` + orders + `"}`, `unknown field "Kind"`},
		{"duplicate", `{"kind":"release","workload":"` + orders + `","kind":"scan"}`, `field "kind" given twice`},
		{"trailing", `{"kind":"scan","workload":"` + orders + `"}{}`, "trailing data"},
		{"no kind", `{"workload":"` + orders + `"}`, `"kind" is missing`},
		{"unknown kind", `{"kind":"nuke","workload":"` + orders + `"}`, `"nuke" is not one of`},
		{"no workload", `{"kind":"scan"}`, `"workload" is missing`},
		{"not spiffe", `{"kind":"scan","workload":"orders"}`, `field "workload": "orders" is not spiffe://`},
		{"spiffe with query", `{"kind":"scan","workload":"` + orders + `?x=1"}`, `field "workload"`},
		{"long workload", `{"kind":"scan","workload":"spiffe://a/ns/b/sa/` + strings.Repeat("c", 3000) + `"}`, "limit 2048"},
		{"service on release", `{"kind":"release","workload":"` + orders + `","service":"payments"}`, `"service" goes with`},
		{"bad service", `{"kind":"scan","workload":"` + orders + `","service":"a b"}`, `"a b" is not a service name`},
		{"bad reason", `{"kind":"scan","workload":"` + orders + `","reason":"x\n"}`, `is not a reason id`},
		{"ttl on scan", `{"kind":"scan","workload":"` + orders + `","ttl_seconds":5}`, `quarantine only`},
		{"negative ttl", `{"kind":"quarantine","workload":"` + orders + `","ttl_seconds":-1}`, `within [0, 604800]`},
		{"huge ttl", `{"kind":"quarantine","workload":"` + orders + `","ttl_seconds":1e30}`, `want a whole number`},
		{"fraction ttl", `{"kind":"quarantine","workload":"` + orders + `","ttl_seconds":1.5}`, `want a whole number`},
		{"too large", `{"kind":"scan","workload":"` + orders + `","reason":"` + strings.Repeat("a", MaxBytes) + `"}`, "over 65536 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tc.in))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestTTL(t *testing.T) {
	e, err := Decode(strings.NewReader(`{"kind":"quarantine","workload":"` + orders + `","ttl_seconds":604800}`))
	if err != nil || e.TTL() != MaxTTL {
		t.Fatalf("ttl %v (%v), want %v", e.TTL(), err, MaxTTL)
	}
	if (Event{}).TTL() != 0 || !Quarantine.Moves() || Release.Moves() || !Scan.Moves() || time.Duration(0) != (Event{Kind: Scan}).TTL() {
		t.Fatal("kinds")
	}
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"kind":"quarantine","workload":"` + orders + `","service":"payments","reason":"r","ttl_seconds":600}`))
	f.Add([]byte(`{"kind":"release","workload":"` + orders + `"} `))
	f.Add([]byte(`{"kind":"scan","kind":"scan"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Decode(strings.NewReader(string(data)))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "event: ") || len(err.Error()) > 512 {
				t.Fatalf("error does not say what, or echoes too much: %v", err)
			}
			return
		}
		if e.Validate() != nil {
			t.Fatal("accepted an invalid event")
		}
		// What decodes survives a round trip unchanged.
		b, _ := json.Marshal(e)
		e2, err := Decode(strings.NewReader(string(b)))
		if err != nil || e2 != e {
			t.Fatalf("round trip: %+v -> %+v (%v)", e, e2, err)
		}
	})
}
