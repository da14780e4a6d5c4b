package check

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeEpoch(t *testing.T) {
	tests := []struct {
		name, in string
		want     Epoch
		wantErr  string
	}{
		{name: "ok", in: `{"epoch":7,"instance":"a1","headers":["x-api-version","x-b"],"all_headers":true}`,
			want: Epoch{Epoch: 7, Instance: "a1", Headers: []string{"x-api-version", "x-b"}, AllHeaders: true}},
		{name: "no headers", in: `{"epoch":7,"instance":"a1"}`, want: Epoch{Epoch: 7, Instance: "a1"}},
		{name: "no epoch", in: `{"instance":"a1"}`, wantErr: `"epoch" is 0`},
		{name: "no instance", in: `{"epoch":7}`, wantErr: `"instance" is 0 bytes`},
		{name: "long instance", in: `{"epoch":7,"instance":"` + strings.Repeat("i", 65) + `"}`, wantErr: `"instance" is 65 bytes`},
		{name: "upper-case name", in: `{"epoch":7,"instance":"a","headers":["x-a","X-B"]}`, wantErr: `"headers"[1]`},
		{name: "name with a space", in: `{"epoch":7,"instance":"a","headers":["x a"]}`, wantErr: `"headers"[0]`},
		{name: "empty name", in: `{"epoch":7,"instance":"a","headers":[""]}`, wantErr: `"headers"[0]`},
		{name: "too many names", in: `{"epoch":7,"instance":"a","headers":["a"` + strings.Repeat(`,"a"`, MaxHeaderNames) + `]}`, wantErr: "limit 256"},
		{name: "too large", in: `{"epoch":7,"instance":"` + strings.Repeat(" ", MaxEpochBytes) + `"}`, wantErr: "limit 32768"},
		{name: "syntax", in: `{"epoch":`, wantErr: "epoch answer: unexpected end"},
		{name: "type", in: `{"epoch":"7","instance":"a"}`, wantErr: "epoch answer: json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeEpoch([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestHeaderName(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"x-api-version", true}, {"a", true}, {"x_1.~!#$%&'*+^`|", true}, {strings.Repeat("a", MaxHeaderNameBytes), true},
		{"", false}, {"X-Api", false}, {"x api", false}, {"x:a", false}, {":path", false}, {"é", false},
		{strings.Repeat("a", MaxHeaderNameBytes+1), false},
	} {
		if got := HeaderName(tc.in); got != tc.want {
			t.Errorf("HeaderName(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func FuzzDecodeEpoch(f *testing.F) {
	f.Add([]byte(`{"epoch":7,"instance":"a1","headers":["x-api-version"],"all_headers":true}`))
	f.Add([]byte(`{"epoch":1,"instance":"a","headers":["X"]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEpoch(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "epoch answer: ") {
				t.Fatalf("error does not say what: %v", err)
			}
			return
		}
		if e.Epoch == 0 || e.Instance == "" || len(e.Instance) > MaxInstanceBytes || len(e.Headers) > MaxHeaderNames {
			t.Fatalf("accepted %+v", e)
		}
		for _, h := range e.Headers {
			if !HeaderName(h) {
				t.Fatalf("accepted header name %q", h)
			}
		}
		if len(e.Headers) == 0 {
			e.Headers = nil // as omitempty writes it
		}
		b, _ := json.Marshal(e)
		e2, err := DecodeEpoch(b)
		if err != nil || !reflect.DeepEqual(e2, e) {
			t.Fatalf("round trip: %+v -> %+v (%v)", e, e2, err)
		}
	})
}
