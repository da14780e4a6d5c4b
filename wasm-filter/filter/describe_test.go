package filter

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/meshward/meshward/api/check"
)

var describeBase = check.Request{SourcePrincipal: "spiffe://cluster.local/ns/shop/sa/frontend", Destination: "orders"}

func get(path string, more ...[2]string) [][2]string {
	return append([][2]string{{":method", "GET"}, {":path", path}, {":authority", "orders"}, {":scheme", "https"}}, more...)
}

// padding is n headers of size bytes each, named x-pad-<i>.
func padding(n, size int) [][2]string {
	var hs [][2]string
	for i := 0; i < n; i++ {
		hs = append(hs, [2]string{fmt.Sprintf("x-pad-%d", i), strings.Repeat("p", size)})
	}
	return hs
}

func named(names ...string) *namedHeaders {
	n := &namedHeaders{names: map[string]bool{}}
	for _, h := range names {
		n.names[h] = true
	}
	return n
}

func TestDescribe(t *testing.T) {
	legacy := [2]string{"x-api-version", "v1-legacy"}
	tests := []struct {
		name      string
		headers   [][2]string
		named     *namedHeaders
		budget    int
		wantErr   string // a notDescribable error containing this
		check     func(t *testing.T, r check.Request)
		wantAllIn bool // every header is sent
	}{
		{name: "plain", headers: get("/orders/1", [2]string{"accept", "a"}, [2]string{"accept", "b"}, [2]string{"cookie", "s=1"},
			[2]string{RuleHeader, "forged"}, [2]string{"x-b3", "1"}), wantAllIn: true,
			check: func(t *testing.T, r check.Request) {
				if r.Method != "GET" || r.Path != "/orders/1" || r.Host != "orders" || r.Headers["accept"] != "a,b" || len(r.Headers) != 2 {
					t.Fatalf("%+v", r)
				}
			}},
		{name: "OPTIONS *", headers: [][2]string{{":method", "OPTIONS"}, {":path", "*"}, {":authority", "orders"}},
			check: func(t *testing.T, r check.Request) {
				if r.Path != "*" || r.Method != "OPTIONS" || r.Validate() != nil {
					t.Fatalf("%+v: %v", r, r.Validate())
				}
			}},
		{name: "GET *", headers: [][2]string{{":method", "GET"}, {":path", "*"}}, wantErr: "neither an absolute path"},
		{name: "CONNECT without a path", headers: [][2]string{{":method", "CONNECT"}, {":authority", "orders:443"}}, wantErr: "neither an absolute path"},
		{name: "no method", headers: [][2]string{{":path", "/"}}, wantErr: "no :method"},
		{name: "path twice", headers: get("/ok", [2]string{":path", "/admin"}), wantErr: ":path given twice"},
		{name: "path not UTF-8", headers: get("/admin\xff"), wantErr: ":path is not valid UTF-8"},
		{name: "host not UTF-8", headers: [][2]string{{":method", "GET"}, {":path", "/"}, {":authority", "o\xc3"}}, wantErr: ":authority is not valid UTF-8"},
		{name: "path of 60 KiB fits", headers: get("/admin?pad=" + strings.Repeat("a", 60<<10)), wantAllIn: true},
		{name: "path of 70 KiB", headers: get("/admin?pad=" + strings.Repeat("a", 70<<10)), wantErr: "limit 65536"},
		// Its HTML escaping made 3000 '<' 18,000 bytes; encode writes them as they are.
		{name: "3000 '<' in a header", headers: get("/admin", [2]string{"x-angle", strings.Repeat("<", 3000)}), wantAllIn: true},
		{name: "quotes double in JSON", headers: get("/admin", [2]string{"x-q", strings.Repeat(`"`, 40<<10)}), named: named("x-q"),
			wantErr: `header "x-q", which a policy reads, does not fit whole`},
		{name: "the padding attack: named header first", headers: append(get("/v1"), append(padding(400, 200), legacy)...),
			named: named("x-api-version"), check: func(t *testing.T, r check.Request) {
				if r.Headers["x-api-version"] != "v1-legacy" || len(r.OmittedHeaders) == 0 || r.OmittedHeadersTruncated {
					t.Fatalf("x-api-version %q, %d omitted, truncated %v", r.Headers["x-api-version"], len(r.OmittedHeaders), r.OmittedHeadersTruncated)
				}
			}},
		{name: "the padding attack, names unknown: reported", headers: append(get("/v1"),
			append(padding(300, 200), [2]string{"x-api-version", "v1-legacy" + strings.Repeat(" ", 10<<10)})...),
			check: func(t *testing.T, r check.Request) {
				if _, sent := r.Headers["x-api-version"]; sent || !slices.Contains(r.OmittedHeaders, "x-api-version") || r.OmittedHeadersTruncated {
					t.Fatalf("x-api-version sent (%v) or not reported: %q", sent, r.OmittedHeaders)
				}
			}},
		{name: "a named header that does not fit", headers: get("/v1", [2]string{"x-api-version", strings.Repeat("v", 70<<10)}),
			named: named("x-api-version"), wantErr: `header "x-api-version", which a policy reads`},
		{name: "a named header not UTF-8", headers: get("/v1", [2]string{"x-api-version", "v1-legacy\xff"}),
			named: named("x-api-version"), wantErr: `header "x-api-version"`},
		{name: "an unnamed header not UTF-8 is reported", headers: get("/v1", [2]string{"x-other", "\xff"}),
			check: func(t *testing.T, r check.Request) {
				if _, sent := r.Headers["x-other"]; sent || !slices.Equal(r.OmittedHeaders, []string{"x-other"}) {
					t.Fatalf("%+v", r)
				}
			}},
		{name: "repeated named header counted whole", headers: append(get("/v1"), slices.Repeat([][2]string{{"x-api-version", strings.Repeat("v", 1000)}}, 70)...),
			named: named("x-api-version"), wantErr: `header "x-api-version"`},
		{name: "a repeated header is sent whole or not at all", headers: append(get("/v1", [2]string{"x-r", strings.Repeat("r", 100)}),
			append(padding(1, 700), [2]string{"x-r", strings.Repeat("r", 300)})...), budget: 1000,
			check: func(t *testing.T, r check.Request) {
				if v, sent := r.Headers["x-r"]; sent && v != strings.Repeat("r", 100)+","+strings.Repeat("r", 300) {
					t.Fatalf("x-r sent in part: %d bytes", len(v))
				}
			}},
		{name: "all headers read: one that does not fit", headers: append(get("/v1"), padding(400, 200)...),
			named: &namedHeaders{all: true}, wantErr: "which a policy reads, does not fit"},
		{name: "even the names do not fit", headers: append(get("/"), padding(3000, 20)...), budget: 4000,
			check: func(t *testing.T, r check.Request) {
				if !r.OmittedHeadersTruncated {
					t.Fatalf("%d sent, %d omitted, not flagged", len(r.Headers), len(r.OmittedHeaders))
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.named == nil {
				tc.named = named()
			}
			if tc.budget == 0 {
				tc.budget = check.MaxRequestBytes
			}
			r, err := describe(describeBase, tc.headers, tc.named, tc.budget)
			var nd *notDescribable
			if tc.wantErr != "" {
				if !errors.As(err, &nd) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want not describable: %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			body, err := encode(r)
			if err != nil || len(body) > tc.budget {
				t.Fatalf("encoded %d bytes, budget %d (%v)", len(body), tc.budget, err)
			}
			if _, err := check.DecodeRequest(body); err != nil && tc.budget == check.MaxRequestBytes {
				t.Fatalf("the authorizer would refuse it: %v", err)
			}
			if tc.wantAllIn && (len(r.OmittedHeaders) > 0 || r.OmittedHeadersTruncated) {
				t.Fatalf("omitted %q (truncated %v)", r.OmittedHeaders, r.OmittedHeadersTruncated)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

// Whatever the headers, a check is within its budget, carries each named
// header whole, and accounts for every other header: sent whole, named as
// omitted, or flagged.
func FuzzDescribe(f *testing.F) {
	f.Add("/orders/1", "x-api-version", "x-a\x00v1\x00x-api-version\x00v1-legacy\x00accept\x00a\x00accept\x00b", 2000, false)
	f.Add("*", "", "x-pad\x00"+strings.Repeat("<", 500), 300, true)
	f.Add("/a", "x-a", "x-a\x00\xff", 100, false)
	f.Fuzz(func(t *testing.T, path, namedName, pairs string, budget int, all bool) {
		budget = 200 + abs(budget)%(1<<16)
		hs := [][2]string{{":method", "OPTIONS"}, {":path", path}, {":authority", "orders"}}
		parts := strings.Split(pairs, "\x00")
		for i := 0; i+1 < len(parts); i += 2 {
			hs = append(hs, [2]string{parts[i], parts[i+1]})
		}
		n := named(namedName)
		n.all = all
		r, err := describe(describeBase, hs, n, budget)
		var nd *notDescribable
		if err != nil {
			if !errors.As(err, &nd) {
				t.Fatalf("error of another kind: %v", err)
			}
			return
		}
		body, err := encode(r)
		if err != nil || len(body) > budget {
			t.Fatalf("encoded %d bytes, budget %d (%v)", len(body), budget, err)
		}
		_, values, _ := pseudoAndGroup(&check.Request{}, hs)
		for name, vs := range values {
			whole := strings.Join(vs, ",")
			v, sent := r.Headers[name]
			switch {
			case sent && v != whole:
				t.Fatalf("header %q sent in part", name)
			case sent && slices.Contains(r.OmittedHeaders, name):
				t.Fatalf("header %q both sent and omitted", name)
			case !sent && n.decisive(name):
				t.Fatalf("decisive header %q not sent", name)
			case !sent && !slices.Contains(r.OmittedHeaders, name) && !r.OmittedHeadersTruncated:
				t.Fatalf("header %q left out without a word", name)
			}
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -(n + 1)
	}
	return n
}

// encodedLen is what encode writes for a string, byte for byte.
func FuzzEncodedLen(f *testing.F) {
	for _, s := range []string{"", "plain", `"\<>&`, "\x00\x01\b\f\n\r\t\x7f", "\xff\xc3", "é\u2028\u2029😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var got string
		b, err := encode(check.Request{Method: s})
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		got = string(m["method"])
		if encodedLen(s) != len(got) {
			t.Fatalf("encodedLen(%q) = %d, encode wrote %d bytes: %s", s, encodedLen(s), len(got), got)
		}
	})
}

func BenchmarkDescribe(b *testing.B) {
	for _, bc := range []struct {
		name    string
		headers [][2]string
	}{
		{"10 headers", append(get("/orders/42"), padding(10, 30)...)},
		{"400 padding headers", append(get("/orders/42"), padding(400, 200)...)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			n := named("x-api-version")
			for i := 0; i < b.N; i++ {
				r, err := describe(describeBase, bc.headers, n, check.MaxRequestBytes)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := encode(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
