package policy

import (
	"strings"
	"testing"
)

// Red team 2: parse differentials. Each policy file below means one thing to
// Istio (and to the kube-apiserver, whose JSON field names are
// case-sensitive) and, today, something wider to meshward. A file meshward
// cannot read as Istio does must be refused; these tests fail while it is
// read more widely.

const rt2Head = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"

// rt2Judge parses doc and evaluates r against it alone; a refused file is
// the fix, and reads as "not allowed".
func rt2Judge(t *testing.T, doc string, r *Request) (allowed bool, dryRun bool) {
	t.Helper()
	set, err := Parse("p.yaml", []byte(doc))
	if err != nil {
		t.Logf("refused: %v", err)
		return false, false
	}
	got := set.Evaluate(r)
	return got.Allow, got.DryRun != nil
}

// A key "Spec" is not Istio's spec: the apiserver prunes it (or refuses it
// under strict field validation), leaving an ALLOW policy without rules,
// which allows nothing. meshward's decodeMeta compares "spec" exactly, hands
// "Spec" to encoding/json with the metadata, and encoding/json matches field
// names case-insensitively: the rules are read, and through Istio's own
// UnmarshalJSON, which ignores unknown fields (notPrincipal below).
func TestRedteam2CapitalisedSpecIsNotTheSpec(t *testing.T) {
	for _, tc := range []struct{ name, doc string }{
		{"Spec allow-all", rt2Head + "metadata: {name: p, namespace: shop}\nSpec: {rules: [{}]}\n"},
		{"SPEC allow-all", rt2Head + "metadata: {name: p, namespace: shop}\nSPEC: {rules: [{}]}\n"},
		{"Spec with a misspelt notPrincipal", rt2Head + "metadata: {name: p, namespace: shop}\n" +
			"Spec:\n  rules:\n  - from: [{source: {principals: [\"*\"], notPrincipal: [\"cluster.local/ns/dmz/sa/web\"]}}]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if allowed, _ := rt2Judge(t, tc.doc, req(intruder, "/admin")); allowed {
				t.Fatalf("the intruder is allowed by a policy Istio reads as allow-nothing:\n%s", tc.doc)
			}
		})
	}
}

// istio.io/dry-run written under "Annotations" (or "Metadata") is no
// annotation to Istio, which enforces the DENY; meshward's encoding/json
// folds the case and makes the DENY a dry run, enforced by nobody.
func TestRedteam2CaseFoldedDryRunAnnotation(t *testing.T) {
	deny := "spec:\n  action: DENY\n  rules: [{to: [{operation: {paths: [\"/admin\"]}}]}]\n---\n" +
		rt2Head + "metadata: {name: allow-all, namespace: shop}\nspec: {rules: [{}]}\n"
	for _, meta := range []string{
		"metadata: {name: p, namespace: shop, Annotations: {istio.io/dry-run: \"true\"}}\n",
		"metadata: {name: p, namespace: shop}\nMetadata: {annotations: {istio.io/dry-run: \"true\"}}\n",
	} {
		t.Run(strings.TrimSpace(meta), func(t *testing.T) {
			if allowed, dry := rt2Judge(t, rt2Head+meta+deny, req(intruder, "/admin")); allowed {
				t.Fatalf("a DENY that Istio enforces is not enforced (dry run: %v)", dry)
			}
		})
	}
}

// checkEmptyLists refuses `from: []` (any source) by looking for a sequence
// node under the key "from". An alias to an empty list, or a merge key that
// brings one in, is no such node: the whole decode then reads `from: []`,
// which compiles as "any source". Istio resolves the alias first and refuses.
func TestRedteam2EmptyFromThroughAliasOrMerge(t *testing.T) {
	for _, tc := range []struct{ name, spec string }{
		{"alias", "spec:\n  targetRefs: &none []\n  rules:\n  - from: *none\n    to: [{operation: {paths: [\"/admin\"]}}]\n"},
		{"merge key", "spec:\n  rules:\n  - <<: {from: []}\n    to: [{operation: {paths: [\"/admin\"]}}]\n"},
		{"aliased rule", "spec:\n  targetRefs: &none []\n  rules:\n  - &r {from: *none, to: [{operation: {paths: [\"/admin\"]}}]}\n"},
		{"to through alias", "spec:\n  targetRefs: &none []\n  rules:\n  - from: [{source: {principals: [\"*\"]}}]\n    to: *none\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := rt2Head + "metadata: {name: p, namespace: shop}\n" + tc.spec
			if allowed, _ := rt2Judge(t, doc, req(intruder, "/admin")); allowed {
				t.Fatalf("an empty list (which Istio refuses) reached the rule as 'any':\n%s", doc)
			}
		})
	}
}

// kubectl and istioctl read YAML through sigs.k8s.io/yaml (a yaml.v2 fork),
// where a merge key applies where it stands: a key written before `<<` is
// overridden by the merged mapping. meshward's yaml.v3 lets the written key
// win wherever it is. Below, Istio's rule names the frontend as its only
// source; meshward's names any principal.
func TestRedteam2MergeKeyOrderDiffers(t *testing.T) {
	doc := rt2Head + "metadata: {name: p, namespace: shop}\nspec:\n  rules:\n" +
		"  - from: [{source: {principals: [\"*\"]}}]\n" +
		"    <<: {from: [{source: {principals: [\"cluster.local/ns/shop/sa/frontend\"]}}]}\n"
	if allowed, _ := rt2Judge(t, doc, req(intruder, "/admin")); allowed {
		t.Fatalf("the intruder is allowed by a rule that Istio reads as the frontend's only:\n%s", doc)
	}
}

// An unquoted date is a string to sigs.k8s.io/yaml ("2023-01-01") and a
// !!timestamp to yaml.v3, which AppendJSON turns into "2023-01-01T00:00:00Z".
// A DENY on a retired API version written unquoted then never matches.
func TestRedteam2UnquotedDateIsNotATimestamp(t *testing.T) {
	doc := rt2Head + "metadata: {name: retired, namespace: shop}\nspec:\n  action: DENY\n  rules:\n" +
		"  - when: [{key: \"request.headers[x-api-version]\", values: [2023-01-01]}]\n---\n" +
		rt2Head + "metadata: {name: allow-all, namespace: shop}\nspec: {rules: [{}]}\n"
	if allowed, _ := rt2Judge(t, doc, req(intruder, "/orders", withHeader("x-api-version", "2023-01-01"))); allowed {
		t.Fatalf("a DENY Istio enforces on x-api-version 2023-01-01 did not match:\n%s", doc)
	}
}
