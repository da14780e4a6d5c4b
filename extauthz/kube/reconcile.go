package kube

import (
	"context"
	"time"

	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshward/meshward/extauthz/quarantine"
	"github.com/meshward/meshward/internal/identity"
)

// reconciler is one leadership term's bookkeeping: which policies it
// wrote or took over, which it deleted, so that a policy missing because
// the watch lags is told from one an operator deleted.
type reconciler struct {
	w       *Writeback
	written map[string]mine    // by policy name
	deleted map[types.UID]bool // deleted by this leader, until the watch drops them
	dirty   bool               // the policies changed, or a write failed: pass again
	retry   time.Time          // when to try failed writes again
}

func newReconciler(w *Writeback) *reconciler {
	return &reconciler{w: w, written: map[string]mine{}, deleted: map[types.UID]bool{}}
}

// apiTimeout bounds one write to the API server.
const apiTimeout = 5 * time.Second

// pass makes the policies match the set, and returns when the next pass is
// due without any change (the earliest expiry, or a retry).
func (r *reconciler) pass(ctx context.Context) time.Time {
	r.dirty, r.retry = false, time.Time{}
	desired := map[string]quarantine.Entry{}
	var next time.Time
	for _, e := range r.w.Set.Snapshot() {
		if _, _, _, err := identity.Parse(e.Workload); err != nil {
			continue // not a SPIFFE ID: no principal a policy could name
		}
		desired[QuarantinePolicyName(e.Workload)] = e
		next = earliest(next, e.Expires)
	}
	store := r.quarantinePolicies()
	for name, e := range desired {
		r.want(ctx, name, e, store[name])
	}
	now := time.Now()
	for name, p := range store {
		if _, ok := desired[name]; ok {
			continue
		}
		// Released or expired; one this leader never held is being adopted
		// (the watch calls adopt) unless it expired.
		if m, ok := r.written[name]; (ok && m.uid == p.UID) || expired(p, r.w.Namespace, now) {
			r.unwant(ctx, name, p)
		}
	}
	return earliest(next, r.retry)
}

// quarantinePolicies are the valid quarantine policies watched; it forgets
// deletions the watch has caught up with.
func (r *reconciler) quarantinePolicies() map[string]*securityv1.AuthorizationPolicy {
	out := map[string]*securityv1.AuthorizationPolicy{}
	live := map[types.UID]bool{}
	for _, p := range r.w.policies() {
		live[p.UID] = true
		if _, err := QuarantineOf(p, r.w.Namespace); err == nil {
			out[p.Name] = p // anything else labelled as meshward's is not ours to touch
		}
	}
	for uid := range r.deleted {
		if !live[uid] {
			delete(r.deleted, uid)
		}
	}
	return out
}

func (r *reconciler) want(ctx context.Context, name string, e quarantine.Entry, p *securityv1.AuthorizationPolicy) {
	m, ok := r.written[name]
	switch {
	case p != nil && r.deleted[p.UID]:
		// The watch still shows the one this leader deleted; its removal
		// kicks another pass.
	case p == nil && !ok:
		r.create(ctx, name, e)
	case p == nil && m.seen:
		r.operatorDeleted(ctx, name, e)
	case p == nil:
		// Written, not yet watched.
	case !ok || m.uid != p.UID:
		r.written[name] = mine{uid: p.UID, seen: true} // a previous leader's, or recreated by hand
		r.update(ctx, e, p)
	default:
		r.written[name] = mine{uid: p.UID, seen: true}
		r.update(ctx, e, p)
	}
}

// operatorDeleted releases the quarantine whose policy someone deleted,
// unless the workload was quarantined anew meanwhile. The release goes
// through the set's sharer, so replicas sharing state release it too.
func (r *reconciler) operatorDeleted(ctx context.Context, name string, e quarantine.Entry) {
	delete(r.written, name)
	if cur, ok := r.w.Set.Lookup(e.Workload); ok && cur.Since.Equal(e.Since) {
		if _, err := r.w.Set.Lift(ctx, e.Workload); err != nil {
			r.w.Log.Error().Err(err).Str("workload", e.Workload).Str("policy", name).Msg("releasing after the policy's deletion")
			return
		}
		r.w.Log.Warn().Str("workload", e.Workload).Str("policy", name).Msg("quarantine policy deleted: quarantine released")
	}
}

func (r *reconciler) create(ctx context.Context, name string, e quarantine.Entry) {
	ap, err := QuarantinePolicy(e, r.w.Namespace)
	if err != nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	got, err := r.w.client.SecurityV1().AuthorizationPolicies(r.w.Namespace).Create(cctx, ap, metav1.CreateOptions{})
	if err != nil {
		r.failed(err, "creating", name, e.Workload)
		return
	}
	r.written[name] = mine{uid: got.UID}
	r.w.Log.Info().Str("workload", e.Workload).Str("policy", name).Msg("quarantine written as an AuthorizationPolicy")
}

// update rewrites a policy whose expiry is not the quarantine's (a new
// verdict for a quarantined workload).
func (r *reconciler) update(ctx context.Context, e quarantine.Entry, p *securityv1.AuthorizationPolicy) {
	want, err := QuarantinePolicy(e, r.w.Namespace)
	if err != nil || want.Annotations[annExpires] == p.Annotations[annExpires] {
		return
	}
	q := p.DeepCopy()
	q.Annotations, q.Spec = want.Annotations, *want.Spec.DeepCopy()
	cctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	if _, err := r.w.client.SecurityV1().AuthorizationPolicies(r.w.Namespace).Update(cctx, q, metav1.UpdateOptions{}); err != nil {
		r.failed(err, "updating", p.Name, e.Workload)
	}
}

// unwant deletes the policy of a quarantine released or expired (or
// released while no replica led).
func (r *reconciler) unwant(ctx context.Context, name string, p *securityv1.AuthorizationPolicy) {
	if r.deleted[p.UID] {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	uid := p.UID
	err := r.w.client.SecurityV1().AuthorizationPolicies(r.w.Namespace).Delete(cctx, name,
		metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		r.failed(err, "deleting", name, p.Annotations[annWorkload])
		return
	}
	r.deleted[uid] = true
	delete(r.written, name)
	r.w.Log.Info().Str("workload", p.Annotations[annWorkload]).Str("policy", name).Msg("quarantine policy removed")
}

// failed logs a write that failed and has it tried again in a second; a
// conflict (the watch lags) is tried at the next pass the watch kicks.
func (r *reconciler) failed(err error, doing, name, workload string) {
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		r.dirty = true
		return
	}
	r.w.Log.Error().Err(err).Str("policy", name).Str("workload", workload).Msg("quarantine write-back: " + doing)
	r.retry = earliest(r.retry, time.Now().Add(time.Second))
}

func expired(p *securityv1.AuthorizationPolicy, namespace string, now time.Time) bool {
	e, err := QuarantineOf(p, namespace)
	return err == nil && !e.Expires.IsZero() && !now.Before(e.Expires)
}

func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}
