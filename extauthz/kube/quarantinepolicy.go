package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	securityapi "istio.io/api/security/v1beta1"
	typev1beta1 "istio.io/api/type/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshward/meshward/extauthz/quarantine"
	"github.com/meshward/meshward/internal/identity"
)

// What marks a quarantine's AuthorizationPolicy as meshward's, and what it
// records of the quarantine.
const (
	ManagedByLabel   = "app.kubernetes.io/managed-by"
	ManagedBy        = "meshward"
	QuarantinePrefix = "meshward-quarantine-"
	annWorkload      = "meshward.io/quarantined-workload"
	annReason        = "meshward.io/quarantine-reason"
	annSince         = "meshward.io/quarantined-since"
	annExpires       = "meshward.io/quarantine-expires" // absent: until released
	maxReason        = 256
)

// QuarantinePolicyName names a workload's quarantine policy: a hash, since a
// SPIFFE ID is no Kubernetes name.
func QuarantinePolicyName(workload string) string {
	h := sha256.Sum256([]byte(workload))
	return QuarantinePrefix + hex.EncodeToString(h[:8])
}

// QuarantinePolicy is the DENY AuthorizationPolicy that records e in
// namespace (the mesh's root namespace): it selects every workload and
// denies every request from e's principal, so the mesh's own sidecars stop
// the quarantined source too, wherever it calls.
func QuarantinePolicy(e quarantine.Entry, namespace string) (*securityv1.AuthorizationPolicy, error) {
	td, ns, sa, err := identity.Parse(e.Workload)
	if err != nil {
		return nil, fmt.Errorf("quarantine policy: %w", err)
	}
	ann := map[string]string{annWorkload: e.Workload, annReason: clip(e.Reason), annSince: e.Since.UTC().Format(time.RFC3339)}
	if !e.Expires.IsZero() {
		ann[annExpires] = e.Expires.UTC().Format(time.RFC3339)
	}
	principal := td + "/ns/" + ns + "/sa/" + sa
	return &securityv1.AuthorizationPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: QuarantinePolicyName(e.Workload), Namespace: namespace,
			Labels: map[string]string{ManagedByLabel: ManagedBy}, Annotations: ann},
		Spec: securityapi.AuthorizationPolicy{
			Selector: &typev1beta1.WorkloadSelector{},
			Action:   securityapi.AuthorizationPolicy_DENY,
			Rules: []*securityapi.Rule{{From: []*securityapi.Rule_From{{
				Source: &securityapi.Source{Principals: []string{principal}}}}}},
		},
	}, nil
}

// clip keeps a reason short and valid UTF-8: it comes from a verdict.
func clip(s string) string {
	s = strings.ToValidUTF8(s, "?")
	for len(s) > maxReason {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return s
}

// QuarantineOf reads the quarantine a policy records. The policy is
// anyone's input: it must be labelled as meshward's, in namespace, named
// for the workload it names, with well-formed times.
func QuarantineOf(ap *securityv1.AuthorizationPolicy, namespace string) (quarantine.Entry, error) {
	where := "AuthorizationPolicy " + ap.Namespace + "/" + ap.Name
	switch {
	case ap.Namespace != namespace:
		return quarantine.Entry{}, fmt.Errorf("%s: quarantines are read from namespace %q only", where, namespace)
	case ap.Labels[ManagedByLabel] != ManagedBy:
		return quarantine.Entry{}, fmt.Errorf("%s: not labelled %s=%s", where, ManagedByLabel, ManagedBy)
	}
	w := ap.Annotations[annWorkload]
	if _, _, _, err := identity.Parse(w); err != nil {
		return quarantine.Entry{}, fmt.Errorf("%s: annotation %s: %w", where, annWorkload, err)
	}
	if ap.Name != QuarantinePolicyName(w) {
		return quarantine.Entry{}, fmt.Errorf("%s: named for another workload than %s says (want %s)", where, annWorkload, QuarantinePolicyName(w))
	}
	e := quarantine.Entry{Workload: w, Reason: clip(ap.Annotations[annReason])}
	var err error
	if e.Since, err = parseTime(ap.Annotations, annSince, true); err != nil {
		return quarantine.Entry{}, fmt.Errorf("%s: %w", where, err)
	}
	if e.Expires, err = parseTime(ap.Annotations, annExpires, false); err != nil {
		return quarantine.Entry{}, fmt.Errorf("%s: %w", where, err)
	}
	return e, nil
}

func parseTime(ann map[string]string, key string, required bool) (time.Time, error) {
	v, ok := ann[key]
	if !ok && !required {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("annotation %s: want an RFC 3339 time, got %q", key, clip(v))
	}
	return t, nil
}
