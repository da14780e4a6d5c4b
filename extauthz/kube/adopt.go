package kube

import (
	"sync"
	"time"

	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// adoptions are the quarantines a replica took from policies (at start, or
// written by the leader since), by workload: the policy's UID. Deleting
// that policy releases them; a quarantine the replica holds for another
// reason (its own verdict, a shared set) is never released by a policy's
// deletion, and a stale deletion of an earlier policy releases nothing.
type adoptions struct {
	mu  sync.Mutex
	uid map[string]types.UID
}

// adopt quarantines the workload a policy records, if the set does not
// hold it and the quarantine has not expired.
func (w *Writeback) adopt(p *securityv1.AuthorizationPolicy) bool {
	e, err := QuarantineOf(p, w.Namespace)
	now := time.Now()
	if err != nil || (!e.Expires.IsZero() && !now.Before(e.Expires)) {
		return false
	}
	w.adopted.mu.Lock()
	defer w.adopted.mu.Unlock()
	if _, held := w.Set.Lookup(e.Workload); held {
		return false
	}
	w.Set.Put(e) // with the times the policy records, not a new start
	w.adopted.uid[e.Workload] = p.UID
	return true
}

// forsake releases what a deleted policy had this replica adopt.
func (w *Writeback) forsake(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	p, ok := obj.(*securityv1.AuthorizationPolicy)
	if !ok {
		return
	}
	workload := p.Annotations[annWorkload]
	w.adopted.mu.Lock()
	defer w.adopted.mu.Unlock()
	if uid, ok := w.adopted.uid[workload]; ok && uid == p.UID {
		delete(w.adopted.uid, workload)
		w.Set.Release(workload)
		w.Log.Warn().Str("workload", workload).Str("policy", p.Name).Msg("quarantine policy deleted: quarantine released")
	}
}

func (w *Writeback) onAdd(obj any) {
	if p, ok := obj.(*securityv1.AuthorizationPolicy); ok && w.adopt(p) {
		w.Log.Info().Str("workload", p.Annotations[annWorkload]).Str("policy", p.Name).Msg("quarantine taken from its AuthorizationPolicy")
	}
}
