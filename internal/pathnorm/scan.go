package pathnorm

import (
	"strings"
	"unicode/utf8"
)

// Byte classes of RFC 3986, as bit flags.
const (
	unreserved = 1 << iota
	pchar      // unreserved, sub-delims, ':' and '@': never escaped in a path
)

var class = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", byte(c)) >= 0 {
			t[c] = unreserved | pchar
		}
	}
	for _, c := range []byte("!$&'()*+,;=:@") {
		t[c] = pchar
	}
	return t
}()

func isUnreserved(c byte) bool { return class[c]&unreserved != 0 }

// scanner splits a path into segments in the output's escaped form:
// %-encoded unreserved characters, sub-delimiters, ':' and '@' decoded (so
// %2e is a dot and %3A a colon), other escapes' hex in upper case, bytes outside pchar escaped, '\' a separator.
type scanner struct {
	path  string
	mode  Mode
	segs  []string
	cur   []byte // the segment being read, escaped form
	dec   []byte // the same, fully %-decoded (for the UTF-8 check)
	start int    // offset of cur in path
}

func scanPath(path string, m Mode) ([]string, error) {
	s := &scanner{path: path, mode: m, start: 1, segs: make([]string, 0, 8)}
	for i := 1; i < len(path); i++ {
		c := path[i]
		var err error
		switch {
		case c == '/':
			err = s.end(i + 1)
		case c == '\\':
			err = s.backslash(i)
		case c == '%':
			err = s.escape(i)
			i += 2
		case class[c]&pchar != 0:
			s.cur, s.dec = append(s.cur, c), append(s.dec, c)
		default: // other ASCII, and UTF-8 bytes (checkTarget vetted them)
			s.cur, s.dec = appendEscaped(s.cur, c), append(s.dec, c)
		}
		if err != nil {
			return nil, err
		}
	}
	return s.segs, s.end(len(path))
}

// backslash is a separator, as for Envoy (Chromium's URL canonicalizer):
// many upstreams (IIS, some Java servers) read it as one.
func (s *scanner) backslash(i int) error {
	if s.mode == None {
		return fail(i, "backslash: NONE does not rewrite it to '/', and an upstream may read it as one")
	}
	return s.end(i + 1)
}

func (s *scanner) escape(i int) error {
	v, ok := unhex(s.path, i)
	switch {
	case !ok:
		return fail(i, "invalid percent-encoding: '%%' must be followed by two hex digits")
	case v == 0:
		return fail(i, "percent-encoded NUL (%%00)")
	case v < 0x20 || v == 0x7f:
		return fail(i, "percent-encoded control character %%%02X", v)
	case v == '/' || v == '\\':
		if s.mode != DecodeAndMergeSlashes {
			return fail(i, "escaped slash %%%02X: rejected in %s (only DECODE_AND_MERGE_SLASHES decodes it)", v, s.mode)
		}
		return s.end(i + 3)
	case v == ';':
		// Java servers split path parameters at ';' and others do not: an
		// escaped one means one thing to the policy and another upstream.
		return fail(i, "escaped semicolon %%3B: upstreams disagree on whether it starts path parameters")
	case isUnreserved(v):
		if s.mode == None {
			return fail(i, "percent-encoded unreserved character %%%02X: NONE does not decode it, and an upstream may", v)
		}
		s.cur = append(s.cur, v)
	case class[v]&pchar != 0:
		// Sub-delimiters, ':' and '@' are plain path characters; upstreams
		// (Go, nginx, most frameworks) decode them before routing, so the
		// policy must see them decoded too: b%3Apurge is b:purge.
		if s.mode == None {
			return fail(i, "percent-encoded path character %%%02X: NONE does not decode it, and an upstream may", v)
		}
		s.cur = append(s.cur, v)
	default:
		s.cur = appendEscaped(s.cur, v)
	}
	s.dec = append(s.dec, v)
	return nil
}

// end closes the current segment; the next one starts at offset next.
func (s *scanner) end(next int) error {
	seg := string(s.cur)
	name, _, params := strings.Cut(seg, ";")
	switch {
	case !utf8.Valid(s.dec):
		return fail(s.start, "path segment is not UTF-8 after percent-decoding")
	case params && (name == "." || name == ".."):
		return fail(s.start, "dot segment with parameters (..;): some upstreams resolve it as a dot segment")
	case s.mode == None && (seg == "." || seg == ".."):
		return fail(s.start, "dot segment: NONE does not resolve it, and an upstream may")
	}
	s.segs = append(s.segs, seg)
	s.cur, s.dec, s.start = s.cur[:0], s.dec[:0], next
	return nil
}

func unhex(p string, i int) (byte, bool) {
	if i+2 >= len(p) {
		return 0, false
	}
	hi, ok1 := hexVal(p[i+1])
	lo, ok2 := hexVal(p[i+2])
	return hi<<4 | lo, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func appendEscaped(b []byte, c byte) []byte {
	const hex = "0123456789ABCDEF"
	return append(b, '%', hex[c>>4], hex[c&15])
}
