package pathnorm

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// Each case gives the outcome in NONE, BASE, MERGE_SLASHES and
// DECODE_AND_MERGE_SLASHES: the normalized target, or "ERR@n" for an error
// at byte n.
var cases = []struct {
	name, in                  string
	none, base, merge, decode string
}{
	// The attacks of the review: allowed by /orders/*, yet meant for /admin.
	{"dot-dot", "/orders/../admin", "ERR@8", "/admin", "/admin", "/admin"},
	{"encoded dot-dot", "/orders/%2e%2e/admin", "ERR@8", "/admin", "/admin", "/admin"},
	{"mixed-case encoded dots", "/orders/%2E./admin", "ERR@8", "/admin", "/admin", "/admin"},
	{"dot-dot escaped slash", "/orders/..%2Fadmin", "ERR@10", "ERR@10", "ERR@10", "/admin"},
	{"fragment", "/orders/x#/../../admin", "ERR@9", "ERR@9", "ERR@9", "ERR@9"},
	{"climb two", "/orders/42/../../admin/users", "ERR@11", "/admin/users", "/admin/users", "/admin/users"},
	{"climb past root", "/orders/../../../admin", "ERR@8", "/admin", "/admin", "/admin"},
	{"backslash dot-dot", `/orders\..\admin`, "ERR@7", "/admin", "/admin", "/admin"},
	{"escaped backslash", "/orders/..%5cadmin", "ERR@10", "ERR@10", "ERR@10", "/admin"},
	{"dot-dot with params", "/orders/..;/admin", "ERR@8", "ERR@8", "ERR@8", "ERR@8"},
	{"dot with params", "/orders/.;x=1/admin", "ERR@8", "ERR@8", "ERR@8", "ERR@8"},
	// The attacks on a DENY of /admin* under a broad ALLOW.
	{"double slash", "//admin", "//admin", "//admin", "/admin", "/admin"},
	{"dot", "/./admin", "ERR@1", "/admin", "/admin", "/admin"},
	{"escaped slash", "/%2Fadmin", "ERR@1", "ERR@1", "ERR@1", "/admin"},
	{"encoded letter", "/%61dmin", "ERR@1", "/admin", "/admin", "/admin"},
	{"encoded unreserved", "/%7E%2d%5F%30", "ERR@1", "/~-_0", "/~-_0", "/~-_0"},
	// Red team: what upstreams decode before routing, the policy sees decoded.
	{"encoded colon", "/v1/b%3Apurge", "ERR@5", "/v1/b:purge", "/v1/b:purge", "/v1/b:purge"},
	{"encoded at and sub-delims", "/root%40admin%2b%21%24%26%27%28%29%2A%2C%3D", "ERR@5", "/root@admin+!$&'()*,=", "/root@admin+!$&'()*,=", "/root@admin+!$&'()*,="},
	{"escaped semicolon", "/a%3Bb", "ERR@2", "ERR@2", "ERR@2", "ERR@2"},
	{"raw colon stays", "/v1/b:purge", "/v1/b:purge", "/v1/b:purge", "/v1/b:purge", "/v1/b:purge"},
	// Dot segments as RFC 3986 removes them.
	{"trailing dot-dot", "/a/b/..", "ERR@5", "/a/", "/a/", "/a/"},
	{"trailing dot", "/a/.", "ERR@3", "/a/", "/a/", "/a/"},
	{"only dot-dot", "/..", "ERR@1", "/", "/", "/"},
	{"dot-dot pops an empty segment", "/a//..", "ERR@4", "/a/", "/a/", "/a/"},
	{"dot after empty segment", "/a//.", "ERR@4", "/a//", "/a/", "/a/"},
	{"three dots are a name", "/a/.../b", "/a/.../b", "/a/.../b", "/a/.../b", "/a/.../b"},
	{"dotted names", "/.well-known/x.json", "/.well-known/x.json", "/.well-known/x.json", "/.well-known/x.json", "/.well-known/x.json"},
	{"escaped dot-dot then escaped slash", "/a/%2e%2e%2fb", "ERR@3", "ERR@9", "ERR@9", "/b"},
	// Slashes.
	{"root", "/", "/", "/", "/", "/"},
	{"trailing slash", "/a/", "/a/", "/a/", "/a/", "/a/"},
	{"only slashes", "///", "///", "///", "/", "/"},
	{"inner slashes", "/a//b///c/", "/a//b///c/", "/a//b///c/", "/a/b/c/", "/a/b/c/"},
	// Escapes: kept ones get upper-case hex; no double decoding.
	{"reserved escape", "/a%3fb", "/a%3fb", "/a%3Fb", "/a%3Fb", "/a%3Fb"},
	{"escaped percent", "/a%252F", "/a%252F", "/a%252F", "/a%252F", "/a%252F"},
	{"utf-8 escaped", "/caf%c3%a9", "/caf%c3%a9", "/caf%C3%A9", "/caf%C3%A9", "/caf%C3%A9"},
	{"utf-8 raw", "/café", "/café", "/caf%C3%A9", "/caf%C3%A9", "/caf%C3%A9"},
	{"outside pchar", "/a b\"<>[]^`{|}", "/a b\"<>[]^`{|}", "/a%20b%22%3C%3E%5B%5D%5E%60%7B%7C%7D", "/a%20b%22%3C%3E%5B%5D%5E%60%7B%7C%7D", "/a%20b%22%3C%3E%5B%5D%5E%60%7B%7C%7D"},
	{"sub-delims kept", "/a!$&'()*+,;=:@b", "/a!$&'()*+,;=:@b", "/a!$&'()*+,;=:@b", "/a!$&'()*+,;=:@b", "/a!$&'()*+,;=:@b"},
	// Queries are kept byte for byte and never normalized.
	{"query kept", "/a/../b?x=/../%zz&y=%2F", "ERR@3", "/b?x=/../%zz&y=%2F", "/b?x=/../%zz&y=%2F", "/b?x=/../%zz&y=%2F"},
	{"query slashes", "/a//b?q=//", "/a//b?q=//", "/a//b?q=//", "/a/b?q=//", "/a/b?q=//"},
	{"empty query", "/a/./b?", "ERR@3", "/a/b?", "/a/b?", "/a/b?"},
	{"query is no path", "/?/../admin", "/?/../admin", "/?/../admin", "/?/../admin", "/?/../admin"},
	{"fragment in query", "/a?x#y", "ERR@4", "ERR@4", "ERR@4", "ERR@4"},
	{"control in query", "/a?x\ty", "ERR@4", "ERR@4", "ERR@4", "ERR@4"},
	{"non-utf-8 query", "/a?\xff", "ERR@3", "ERR@3", "ERR@3", "ERR@3"},
	// What no mode can normalize.
	{"escaped NUL", "/a%00", "ERR@2", "ERR@2", "ERR@2", "ERR@2"},
	{"raw NUL", "/a\x00", "ERR@2", "ERR@2", "ERR@2", "ERR@2"},
	{"raw newline", "/a\n", "ERR@2", "ERR@2", "ERR@2", "ERR@2"},
	{"escaped newline", "/a%0a", "ERR@2", "ERR@2", "ERR@2", "ERR@2"},
	{"escaped DEL", "/a%7F", "ERR@2", "ERR@2", "ERR@2", "ERR@2"},
	{"bad escape", "/a%zz", "ERR@2", "ERR@2", "ERR@2", "ERR@2"},
	{"half escape", "/a%4", "ERR@2", "ERR@2", "ERR@2", "ERR@2"},
	{"lone percent", "/a%", "ERR@2", "ERR@2", "ERR@2", "ERR@2"},
	{"escape before query", "/a%4?x", "ERR@2", "ERR@2", "ERR@2", "ERR@2"},
	{"overlong slash", "/%C0%AF", "ERR@1", "ERR@1", "ERR@1", "ERR@1"},
	{"escaped non-utf-8", "/a/%FF", "ERR@3", "ERR@3", "ERR@3", "ERR@3"},
	{"raw and escaped non-utf-8", "/a/\xc3%28", "ERR@3", "ERR@3", "ERR@3", "ERR@3"},
	{"raw non-utf-8", "/a\xff", "ERR@2", "ERR@2", "ERR@2", "ERR@2"},
	{"asterisk", "*", "ERR@0", "ERR@0", "ERR@0", "ERR@0"},
	{"relative", "orders", "ERR@0", "ERR@0", "ERR@0", "ERR@0"},
	{"absolute form", "http://orders/a", "ERR@0", "ERR@0", "ERR@0", "ERR@0"},
	{"empty", "", "ERR@0", "ERR@0", "ERR@0", "ERR@0"},
}

func TestNormalize(t *testing.T) {
	for _, tc := range cases {
		for i, m := range []Mode{None, Base, MergeSlashes, DecodeAndMergeSlashes} {
			want := []string{tc.none, tc.base, tc.merge, tc.decode}[i]
			t.Run(tc.name+"/"+m.String(), func(t *testing.T) {
				got, err := Normalize(tc.in, m)
				if g := outcome(got, err); g != want {
					t.Fatalf("Normalize(%q) = %s (%v), want %s", tc.in, g, err, want)
				}
				if err == nil {
					if again, err := Normalize(got, m); again != got || err != nil {
						t.Fatalf("not idempotent: Normalize(%q) = %q, %v", got, again, err)
					}
				}
			})
		}
	}
}

func outcome(got string, err error) string {
	var e *Error
	if errors.As(err, &e) {
		return "ERR@" + strconv.Itoa(e.Offset)
	}
	if err != nil {
		return "untyped error " + err.Error()
	}
	return got
}

func TestNormalizeDefaultIsMergeSlashes(t *testing.T) {
	for _, tc := range cases {
		got, err := Normalize(tc.in, Default)
		if g := outcome(got, err); g != tc.merge {
			t.Errorf("Normalize(%q, Default) = %s, want %s (MERGE_SLASHES)", tc.in, g, tc.merge)
		}
	}
}

// Errors say where and what, and never repeat the target (a query may hold
// a secret).
func TestNormalizeErrors(t *testing.T) {
	tests := []struct {
		in   string
		m    Mode
		want string
	}{
		{"/orders/..%2Fadmin?token=s3cret", Base, "request target: byte 10: escaped slash %2F: rejected in BASE (only DECODE_AND_MERGE_SLASHES decodes it)"},
		{"/a%zz?token=s3cret", Base, "byte 2: invalid percent-encoding"},
		{"/a%00?token=s3cret", MergeSlashes, "byte 2: percent-encoded NUL (%00)"},
		{"/a\x01?token=s3cret", MergeSlashes, "byte 2: control character 0x01"},
		{"/a#x?token=s3cret", Base, "byte 2: fragment ('#')"},
		{"*", Base, "byte 0: asterisk-form request target (OPTIONS *)"},
		{"a?token=s3cret", Base, "byte 0: the path does not start with '/'"},
		{"/a/%2e?token=s3cret", None, "byte 3: percent-encoded unreserved character %2E: NONE does not decode it"},
		{"/a/..;x?token=s3cret", Base, "byte 3: dot segment with parameters"},
		{"/" + strings.Repeat("a", MaxTargetBytes), Base, fmt.Sprintf("byte %d: request target longer than %d bytes", MaxTargetBytes, MaxTargetBytes)},
		{"/a", Mode(9), "unknown normalization mode 9"},
	}
	for _, tc := range tests {
		_, err := Normalize(tc.in, tc.m)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Normalize(%.40q, %v) = %v, want an error containing %q", tc.in, tc.m, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the error repeats the query: %v", err)
		}
	}
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		in   string
		want Mode
		err  string
	}{
		{"", Default, ""},
		{"DEFAULT", Default, ""},
		{"NONE", None, ""},
		{"BASE", Base, ""},
		{"MERGE_SLASHES", MergeSlashes, ""},
		{"DECODE_AND_MERGE_SLASHES", DecodeAndMergeSlashes, ""},
		{"base", 0, `path normalization "base": want one of DEFAULT, NONE, BASE, MERGE_SLASHES, DECODE_AND_MERGE_SLASHES`},
		{"MERGE", 0, `path normalization "MERGE"`},
	}
	for _, tc := range tests {
		m, err := ParseMode(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseMode(%q) = %v, %v; want error %q", tc.in, m, err, tc.err)
			}
			continue
		}
		if err != nil || m != tc.want || (tc.in != "" && m.String() != tc.in) {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", tc.in, m, err, tc.want)
		}
	}
	if Default.Effective() != MergeSlashes || Base.Effective() != Base || Mode(9).String() != "Mode(9)" {
		t.Error("Effective or String is wrong")
	}
}

func BenchmarkNormalize(b *testing.B) {
	for _, in := range []string{"/orders/42?page=2", "/orders/%2e%2e/admin//users?page=2"} {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Normalize(in, Default); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
