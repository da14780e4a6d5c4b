package pathnorm

import (
	"errors"
	"net/url"
	pathpkg "path"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzNormalize checks, for every mode: no panic; errors are *Error with an
// offset inside the target; the output is idempotent, keeps the query byte
// for byte, and its path starts with '/', has no dot segment, no '#', no
// control character, and is UTF-8 once %-decoded; in the merging modes,
// decoding and cleaning it changes nothing.
func FuzzNormalize(f *testing.F) {
	for _, tc := range cases {
		f.Add(tc.in, uint8(0))
	}
	f.Fuzz(func(t *testing.T, in string, mode uint8) {
		m := Mode(mode % 5)
		out, err := Normalize(in, m)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Offset < 0 || e.Offset > len(in) {
				t.Fatalf("Normalize(%q, %v): error %v is not an *Error with an offset in the target", in, m, err)
			}
			return
		}
		if again, err := Normalize(out, m); err != nil || again != out {
			t.Fatalf("Normalize(%q, %v) = %q, but again: %q, %v", in, m, out, again, err)
		}
		_, q, hasQ := strings.Cut(in, "?")
		path, outQ, outHasQ := strings.Cut(out, "?")
		if hasQ != outHasQ || q != outQ {
			t.Fatalf("Normalize(%q, %v) = %q: the query changed", in, m, out)
		}
		checkPath(t, in, m, path)
	})
}

func checkPath(t *testing.T, in string, m Mode, path string) {
	t.Helper()
	if path == "" || path[0] != '/' || strings.ContainsAny(path, "#") {
		t.Fatalf("Normalize(%q, %v): path %q", in, m, path)
	}
	for _, seg := range strings.Split(path[1:], "/") {
		if seg == "." || seg == ".." {
			t.Fatalf("Normalize(%q, %v): dot segment in %q", in, m, path)
		}
	}
	dec, err := url.PathUnescape(path)
	if err != nil || !utf8.ValidString(dec) {
		t.Fatalf("Normalize(%q, %v): path %q does not decode to UTF-8 (%v)", in, m, path, err)
	}
	for _, c := range []byte(dec) {
		if c < 0x20 || c == 0x7f {
			t.Fatalf("Normalize(%q, %v): path %q decodes to a control character", in, m, path)
		}
	}
	// An upstream that decodes the path once and cleans it (Go's
	// http.ServeMux, most routers) finds the path that was judged.
	if m.Effective().merges() && dec != "/" && pathpkg.Clean(dec) != strings.TrimSuffix(dec, "/") {
		t.Fatalf("Normalize(%q, %v) = %q: decoded and cleaned it is %q", in, m, path, pathpkg.Clean(dec))
	}
}
