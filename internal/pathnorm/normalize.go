package pathnorm

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxTargetBytes bounds a request target (Envoy's default limit on all
// request headers together is 60 KiB).
const MaxTargetBytes = 64 << 10

// Error says at which byte of the request target normalization failed, and
// why. It never quotes the target: its query may carry secrets.
type Error struct {
	Offset int
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("request target: byte %d: %s", e.Offset, e.Reason)
}

func fail(off int, format string, args ...any) error {
	return &Error{Offset: off, Reason: fmt.Sprintf(format, args...)}
}

// Normalize returns the request target (origin form: path, then an optional
// "?query") with its path normalized by m. The query is kept byte for byte
// and never takes part in normalization. What cannot be normalized safely
// is an *Error: NUL and other control characters (raw or %-encoded), invalid
// %-escapes, a '#', bytes that are not UTF-8 (in the path after decoding), a
// target not starting with '/' (the asterisk form "*" included), escaped
// slashes outside DecodeAndMergeSlashes, and dot segments carrying ";params".
// The output is idempotent: Normalize(out, m) == out.
func Normalize(target string, m Mode) (string, error) {
	m = m.Effective()
	if m > DecodeAndMergeSlashes {
		return "", fail(0, "unknown normalization mode %d", uint8(m))
	}
	if err := checkTarget(target); err != nil {
		return "", err
	}
	q := strings.IndexByte(target, '?')
	if q < 0 {
		q = len(target)
	}
	path, query := target[:q], target[q:]
	if clean(path, m) {
		return target, nil
	}
	segs, err := scanPath(path, m)
	if err != nil || m == None {
		return target, err // NONE never rewrites: scanPath only vetted the path
	}
	return join(removeDots(segs), m.merges()) + query, nil
}

// checkTarget rejects what no mode can normalize, anywhere in the target.
func checkTarget(t string) error {
	switch {
	case t == "":
		return fail(0, "empty request target")
	case len(t) > MaxTargetBytes:
		return fail(MaxTargetBytes, "request target longer than %d bytes", MaxTargetBytes)
	case t == "*":
		return fail(0, "asterisk-form request target (OPTIONS *) names no path")
	case t[0] != '/':
		return fail(0, "the path does not start with '/'")
	}
	high := false
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c < 0x20 || c == 0x7f:
			return fail(i, "control character 0x%02X", c)
		case c == '#':
			return fail(i, "fragment ('#'): clients never send one, and its meaning differs between parsers")
		case c >= 0x80:
			high = true
		}
	}
	if high && !utf8.ValidString(t) {
		return fail(firstInvalidUTF8(t), "not UTF-8")
	}
	return nil
}

func firstInvalidUTF8(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n <= 1 {
				return i
			}
		}
	}
	return len(s)
}

// clean says that path has nothing that m would rewrite or reject, so the
// common request costs one pass and no allocation.
func clean(path string, m Mode) bool {
	start := 1
	for i := 1; i <= len(path); i++ {
		if i < len(path) && path[i] != '/' {
			if c := path[i]; c == '%' || class[c]&pchar == 0 {
				return false
			}
			continue
		}
		seg := path[start:i]
		if (seg != "" && seg[0] == '.') || (seg == "" && m.merges() && i < len(path)) {
			return false
		}
		start = i + 1
	}
	return true
}

// removeDots is RFC 3986's remove_dot_segments over the segments that
// follow the path's leading '/'.
func removeDots(segs []string) []string {
	out := segs[:0]
	for i, s := range segs {
		switch s {
		case ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
			continue
		}
		if i == len(segs)-1 {
			out = append(out, "") // "/a/.." is the directory "/", "/a/." is "/a/"
		}
	}
	return out
}

// join builds the path; merging keeps only a trailing slash of the empty
// segments, as Envoy's merge_slashes does after normalize_path.
func join(segs []string, merge bool) string {
	if !merge {
		return "/" + strings.Join(segs, "/")
	}
	trailing := len(segs) > 0 && segs[len(segs)-1] == ""
	kept := segs[:0]
	for _, s := range segs {
		if s != "" {
			kept = append(kept, s)
		}
	}
	p := "/" + strings.Join(kept, "/")
	if trailing && len(kept) > 0 {
		p += "/"
	}
	return p
}
