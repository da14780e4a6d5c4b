package policy

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, v string
		want       bool
	}{
		{"team-*-prod", "team-a-prod", true},
		{"team-*-prod", "team--prod", true},
		{"team-*-prod", "team-prod", false}, // the pieces may not overlap
		{"a*b*c", "abc", true},
		{"a*b*c", "acb", false},
		{"*a*", "", false},
		{"**", "", true},
		{"a**", "a", true},
		{"*ab", "abab", true},
		{"ab*ab", "ab", false},
	} {
		if got := globMatch(tc.pattern, tc.v); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.v, got, tc.want)
		}
	}
}

func TestPrincipalMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, v string
		want       bool
	}{
		{"iss/sub", "iss/sub", true},
		{"iss/sub", "iss/sub2", false},
		{"*", "", false},
		{"*", "iss/", false}, // Istio's ".+" for the subject too
		{"*", "i/s", true},
		{"https://a.b/*", "https://a.b/c/d", false}, // the issuer is https://a.b/c
		{"https://a.b/*", "https://a.b/d", true},
		{"*/d", "https://a.b/c/d", true},
		{"*b/d", "https://a.b/d", true},
		{"*d", "x/yd", true}, // no '/': a subject suffix, any issuer
		{"*d", "/yd", false}, // ... which must be there
		{"iss*", "issuer/u", true},
		{"iss*", "issuer/", false},
		{"iss/u*", "iss/user", true},
		{"iss/u*", "iss2/user", false},
	} {
		pm, err := parsePrincipalMatch(tc.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := pm.matches(tc.v); got != tc.want {
			t.Errorf("%q matches %q = %v, want %v", tc.pattern, tc.v, got, tc.want)
		}
	}
}

func TestPathTemplateMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, v string
		want       bool
	}{
		{"/a/{*}/c", "/a/b/c", true},
		{"/a/{*}/c", "/a/b b/c", false}, // a space is no pchar: Envoy does not match it
		{"/a/{*}/c", "/a//c", false},
		{"/a/{**}", "/a/", true},
		{"/a/{**}", "/a", false},
		{"/a/{**}/z", "/a/b/c/z", true},
		{"/{*}.txt", "/x.txt", false}, // refused at parse; see FuzzPathTemplate
	} {
		m, err := parsePathMatch(tc.pattern)
		if err != nil {
			if tc.want {
				t.Errorf("%q: %v", tc.pattern, err)
			}
			continue
		}
		if got := m.matches(tc.v); got != tc.want {
			t.Errorf("%q matches %q = %v, want %v", tc.pattern, tc.v, got, tc.want)
		}
	}
}

// FuzzPatterns: the pattern parsers refuse or accept hostile input without
// panicking, and a namespace glob agrees with the regular expression Istio
// writes for it ('*' as ".*", anchored).
func FuzzPatterns(f *testing.F) {
	for _, s := range [][2]string{{"team-*-prod", "team-a-prod"}, {"/a/{*}/{**}", "/a/b/c"}, {"*/sub", "iss/sub"}, {"**", ""}, {"/{*}/x/?a", "/"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, v string) {
		if m, err := parsePathMatch(pattern); err == nil {
			m.matches(v)
		}
		if pm, err := parsePrincipalMatch(pattern); err == nil {
			pm.matches(v)
		}
		// The oracle, Go's regexp, reads runes: compare on valid UTF-8 only.
		if !strings.Contains(pattern, "*") || len(pattern) > 64 || !utf8.ValidString(pattern) || !utf8.ValidString(v) {
			return
		}
		pieces := strings.Split(pattern, "*")
		for i := range pieces {
			pieces[i] = regexp.QuoteMeta(pieces[i])
		}
		re := regexp.MustCompile(`^(?s:` + strings.Join(pieces, ".*") + `)$`)
		if got, want := globMatch(pattern, v), re.MatchString(v); got != want {
			t.Fatalf("globMatch(%q, %q) = %v, the regexp says %v", pattern, v, got, want)
		}
	})
}
