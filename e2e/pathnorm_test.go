package e2e

import (
	"net/url"
	pathpkg "path"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/internal/pathnorm"
)

// pathCase is one request: who sends which target, and what must happen:
// the status and reason, and (when allowed) the rule and the exact target
// the upstream receives, which must also be the path the authorizer judged.
type pathCase struct {
	from, target string
	status       int
	reason       string
	rule         string // the deciding rule the upstream is told of
	upstream     string // "" when nothing may reach it
}

const (
	noRule   = "no-matching-rule"
	byPolicy = "denied-by-policy"
)

// The attacks of the review (issue 8, finding 3), and lookalikes that must
// still work, in meshward's default mode (MERGE_SLASHES).
var defaultModeCases = []pathCase{
	{frontendID, "/orders/42", 200, "", ruleFrontend, "/orders/42"},
	{frontendID, "/orders/42?token=a%2Fb/../c#", 400, "", "", ""}, // a fragment, even in the query
	{frontendID, "/orders/42?page=/../admin", 200, "", ruleFrontend, "/orders/42?page=/../admin"},
	{frontendID, "/orders/../admin", 403, noRule, "", ""},
	{frontendID, "/orders/%2e%2e/admin", 403, noRule, "", ""},
	{frontendID, "/orders/..%2Fadmin", 400, "", "", ""},
	{frontendID, "/orders/x#/../../admin", 400, "", "", ""},
	{frontendID, "/orders/42/../../admin/users", 403, noRule, "", ""},
	{frontendID, "/orders/..;/admin", 400, "", "", ""},
	{frontendID, `/orders\..\admin`, 403, noRule, "", ""},
	{frontendID, "/orders/..%5Cadmin", 400, "", "", ""},
	{frontendID, "/orders/%C0%AE%C0%AE/admin", 400, "", "", ""}, // overlong UTF-8 dots
	{frontendID, "/orders/%00/../admin", 400, "", "", ""},
	{frontendID, "/orders/%zz", 400, "", "", ""},
	{frontendID, "/orders/%34%32", 200, "", ruleFrontend, "/orders/42"},
	{frontendID, "/orders//42/", 200, "", ruleFrontend, "/orders/42/"},
	{frontendID, "/orders/./42/../43", 200, "", ruleFrontend, "/orders/43"},
	{frontendID, "/orders/caf%c3%a9", 200, "", ruleFrontend, "/orders/caf%C3%A9"},
	{frontendID, "/orders/a%3fb", 200, "", ruleFrontend, "/orders/a%3Fb"},
	{frontendID, "/orders/a%252Fb", 200, "", ruleFrontend, "/orders/a%252Fb"}, // decoded once only
	{catalogID, "/public", 200, "", ruleCatalog, "/public"},
	{catalogID, "/admin", 403, byPolicy, "", ""},
	{catalogID, "//admin", 403, byPolicy, "", ""},
	{catalogID, "/./admin", 403, byPolicy, "", ""},
	{catalogID, "/%2Fadmin", 400, "", "", ""},
	{catalogID, "/%61dmin", 403, byPolicy, "", ""},
	{catalogID, "/%2561dmin", 200, "", ruleCatalog, "/%2561dmin"}, // "%61dmin" to an upstream that decodes once
	{catalogID, "/public/../admin/x", 403, byPolicy, "", ""},
	{catalogID, `\admin`, 400, "", "", ""}, // not a path
	{catalogID, "/public/%2e%2E/%2e/admin", 403, byPolicy, "", ""},
	{catalogID, "///admin//", 403, byPolicy, "", ""},
}

// Every confusable path is judged as the upstream receives it, and no attack
// reaches /admin (as an upstream that decodes once and cleans the path would
// see it).
func TestPathNormalizationDefaultMode(t *testing.T) {
	pm := startPathMesh(t, pathnorm.Default, "", zerolog.Nop())
	runPathCases(t, pm, defaultModeCases)
}

// The other modes. BASE and NONE keep "//" as Istio does (so //admin passes
// a DENY on /admin* in them: the reason meshward's default merges slashes;
// the pathnorm table shows it, since an authorizer that merges would deny it
// here). Escaped slashes are rejected unless decoded.
func TestPathNormalizationModes(t *testing.T) {
	modes := []struct {
		mode  pathnorm.Mode
		cases []pathCase
	}{
		{pathnorm.Base, []pathCase{
			{frontendID, "/orders/../admin", 403, noRule, "", ""},
			{frontendID, "/orders/..%2Fadmin", 400, "", "", ""},
			{frontendID, "/orders//42", 200, "", ruleFrontend, "/orders//42"},
			{catalogID, "/%61dmin", 403, byPolicy, "", ""},
			{catalogID, "/public/../admin", 403, byPolicy, "", ""},
		}},
		{pathnorm.DecodeAndMergeSlashes, []pathCase{
			{frontendID, "/orders/..%2Fadmin", 403, noRule, "", ""},
			{frontendID, "/orders/..%5cadmin", 403, noRule, "", ""},
			{frontendID, "/orders/a%2Fb", 200, "", ruleFrontend, "/orders/a/b"},
			{catalogID, "/%2Fadmin", 403, byPolicy, "", ""},
			{catalogID, "/x/..%2f..%2fadmin", 403, byPolicy, "", ""},
		}},
		{pathnorm.None, []pathCase{
			{frontendID, "/orders/42", 200, "", ruleFrontend, "/orders/42"},
			{frontendID, "/orders/../admin", 400, "", "", ""},
			{frontendID, "/orders/%2e%2e/admin", 400, "", "", ""},
			{frontendID, "/orders/..%2Fadmin", 400, "", "", ""},
			{frontendID, `/orders\..\admin`, 400, "", "", ""},
			{frontendID, "/orders/caf%c3%a9", 200, "", ruleFrontend, "/orders/caf%c3%a9"},
			{frontendID, "/orders//42", 200, "", ruleFrontend, "/orders//42"},
			{catalogID, "/%61dmin", 400, "", "", ""},
			{catalogID, "/./admin", 400, "", "", ""},
		}},
	}
	for _, md := range modes {
		t.Run(md.mode.String(), func(t *testing.T) {
			pm := startPathMesh(t, md.mode, "", zerolog.Nop())
			runPathCases(t, pm, md.cases)
		})
	}
}

func runPathCases(t *testing.T, pm *pathMesh, cases []pathCase) {
	t.Helper()
	for _, tc := range cases {
		got := pm.send(t, tc.from, tc.target)
		judged, recv := pm.take()
		who := strings.TrimPrefix(tc.from, "spiffe://cluster.local/ns/shop/sa/")
		if got.status != tc.status || got.reason != tc.reason {
			t.Errorf("%s GET %q: %d %q, want %d %q", who, tc.target, got.status, got.reason, tc.status, tc.reason)
		}
		switch {
		case tc.status == 400 && len(judged) != 0:
			t.Errorf("%s GET %q: rejected, yet the authorizer judged %q", who, tc.target, judged)
		case tc.status != 400 && len(judged) != 1:
			t.Errorf("%s GET %q: the authorizer judged %q, want one check", who, tc.target, judged)
		}
		if tc.upstream == "" {
			if len(recv) != 0 {
				t.Errorf("%s GET %q: the upstream received %+v, want nothing", who, tc.target, recv)
			}
			continue
		}
		if len(recv) != 1 || recv[0].target != tc.upstream || recv[0].rule != tc.rule {
			t.Errorf("%s GET %q: the upstream received %+v, want %q allowed by %s", who, tc.target, recv, tc.upstream, tc.rule)
			continue
		}
		if len(judged) == 1 && judged[0] != recv[0].target {
			t.Errorf("%s GET %q: judged %q, the upstream received %q", who, tc.target, judged[0], recv[0].target)
		}
		if reachesAdmin(recv[0].target) {
			t.Errorf("%s GET %q reached %q upstream", who, tc.target, recv[0].target)
		}
	}
}

// reachesAdmin says whether an upstream that decodes the path once and
// cleans it (Go's ServeMux, most routers) would serve /admin or below.
func reachesAdmin(target string) bool {
	p, _, _ := strings.Cut(target, "?")
	dec, err := url.PathUnescape(p)
	if err != nil {
		return true
	}
	c := pathpkg.Clean(strings.ReplaceAll(dec, `\`, "/"))
	return c == "/admin" || strings.HasPrefix(c, "/admin/")
}
