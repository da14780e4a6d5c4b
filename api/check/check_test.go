package check

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeRequest(t *testing.T) {
	tests := []struct{ name, in, wantErr string }{
		{"ok", `{"source_principal":"a","destination":"b","method":"GET","path":"/x"}`, ""},
		{"empty", ``, "empty body"},
		{"syntax", `{"destination":`, "malformed JSON"},
		{"type", `{"destination":7}`, `field "destination"`},
		{"unknown", `{"destination":"b","method":"GET","path":"/","x":1}`, `unknown field "x"`},
		{"trailing", `{"destination":"b","method":"GET","path":"/"}{}`, "trailing data"},
		{"no method", `{"destination":"b","path":"/"}`, `"method" is empty`},
		{"relative path", `{"destination":"b","method":"GET","path":"x"}`, `"path" must start with '/'`},
		{"asterisk-form", `{"destination":"b","method":"OPTIONS","path":"*"}`, ""},
		{"asterisk-form, not OPTIONS", `{"destination":"b","method":"GET","path":"*"}`, `only OPTIONS may use`},
		{"omitted headers", `{"destination":"b","method":"GET","path":"/","omitted_headers":["x-a"],"omitted_headers_truncated":true}`, ""},
		{"omitted empty name", `{"destination":"b","method":"GET","path":"/","omitted_headers":["x-a",""]}`, `"omitted_headers"[1] is empty`},
		{"too large", `{"destination":"b","method":"GET","path":"/` + strings.Repeat("a", MaxRequestBytes) + `"}`, "limit 65536"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeRequest([]byte(tc.in))
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

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"source_principal":"spiffe://a","destination":"b","method":"GET","path":"/x"}`))
	f.Add([]byte(`{"destination":"b","method":"GET","path":"/"} `))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRequest(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "check request: ") {
				t.Fatalf("error does not say what: %v", err)
			}
			return
		}
		if r.Validate() != nil {
			t.Fatal("accepted an invalid request")
		}
		// What decodes must survive a round trip unchanged.
		b, _ := json.Marshal(r)
		r2, err := DecodeRequest(b)
		if err != nil || !reflect.DeepEqual(normalize(r2), normalize(r)) {
			t.Fatalf("round trip: %+v -> %+v (%v)", r, r2, err)
		}
	})
}

// normalize treats an empty map as absent, as JSON's omitempty does.
func normalize(r Request) Request {
	if len(r.Headers) == 0 {
		r.Headers = nil
	}
	if len(r.DestinationLabels) == 0 {
		r.DestinationLabels = nil
	}
	if len(r.OmittedHeaders) == 0 {
		r.OmittedHeaders = nil
	}
	return r
}
