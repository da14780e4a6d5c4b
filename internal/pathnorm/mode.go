// Package pathnorm normalizes the path of an HTTP request target the way
// Istio's meshConfig.pathNormalization has Envoy do it before any filter runs,
// so that a policy judges the path the upstream receives. It is logic only:
// the sidecar and the authorizer call it on every request.
package pathnorm

import (
	"fmt"
	"strings"
)

// Mode is one of Istio's path normalization options. The values follow
// Istio's enum (ProxyConfig/MeshConfig ProxyPathNormalization.NormalizationType),
// so the zero value is Default and an unset field is never NONE.
type Mode uint8

const (
	// Default is meshward's default, MergeSlashes (Istio's is Base, which its
	// own docs call vulnerable to CVE-2021-31920: //admin passes a DENY on /admin*).
	Default Mode = iota
	// None never rewrites the path; unlike Istio's NONE it rejects the forms
	// the other modes would rewrite into another path (see README).
	None
	// Base is RFC 3986 normalization as Envoy's normalize_path does it:
	// dot segments removed, %-encoded unreserved characters decoded,
	// backslashes turned into slashes.
	Base
	// MergeSlashes is Base, then runs of slashes merged into one.
	MergeSlashes
	// DecodeAndMergeSlashes is MergeSlashes with %2F and %5C decoded into
	// path separators first.
	DecodeAndMergeSlashes
)

var modeNames = [...]string{"DEFAULT", "NONE", "BASE", "MERGE_SLASHES", "DECODE_AND_MERGE_SLASHES"}

func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// ParseMode accepts Istio's names (and "" for Default).
func ParseMode(s string) (Mode, error) {
	if s == "" {
		return Default, nil
	}
	for i, n := range modeNames {
		if s == n {
			return Mode(i), nil
		}
	}
	return 0, fmt.Errorf("path normalization %q: want one of %s", s, strings.Join(modeNames[:], ", "))
}

// Effective is the mode Normalize applies for m.
func (m Mode) Effective() Mode {
	if m == Default {
		return MergeSlashes
	}
	return m
}

func (m Mode) merges() bool { return m == MergeSlashes || m == DecodeAndMergeSlashes }
