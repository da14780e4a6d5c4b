package kube

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	istioinformers "istio.io/client-go/pkg/informers/externalversions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/meshward/meshward/extauthz/quarantine"
)

// Writeback keeps one DENY AuthorizationPolicy per quarantined workload in
// the mesh's root namespace (design flow 5): the quarantine survives a
// restart of every authorizer and an operator sees it, and releases it by
// deleting it, with kubectl. Every replica rebuilds its set from the
// policies at start; only the leader writes.
type Writeback struct {
	Set       *quarantine.Set
	Namespace string
	Log       zerolog.Logger

	client  istioclient.Interface
	factory istioinformers.SharedInformerFactory
	aps     cache.SharedIndexInformer
	kick    chan struct{}
	adopted adoptions
}

// NewWriteback writes the quarantines of set into namespace of the cluster
// cfg reaches.
func NewWriteback(cfg *rest.Config, set *quarantine.Set, namespace string, log zerolog.Logger) (*Writeback, error) {
	if namespace == "" {
		return nil, fmt.Errorf("kube: quarantine write-back: no namespace")
	}
	ic, err := istioclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube: istio client: %w", err)
	}
	w := &Writeback{Set: set, Namespace: namespace, Log: log, client: ic, kick: make(chan struct{}, 1),
		adopted: adoptions{uid: map[string]types.UID{}}}
	w.factory = istioinformers.NewSharedInformerFactoryWithOptions(ic, 10*time.Minute, istioinformers.WithNamespace(namespace),
		istioinformers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = ManagedByLabel + "=" + ManagedBy }))
	w.aps = w.factory.Security().V1().AuthorizationPolicies().Informer()
	kick := func() {
		select {
		case w.kick <- struct{}{}:
		default: // a pass is already due; it will see this change too
		}
	}
	if _, err := w.aps.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { w.onAdd(o); kick() },
		UpdateFunc: func(_, o any) { w.onAdd(o); kick() },
		DeleteFunc: func(o any) { w.forsake(o); kick() },
	}); err != nil {
		return nil, err
	}
	return w, nil
}

// Rebuild starts watching the policies and quarantines, in the set, every
// workload a policy records and the set does not hold: an authorizer
// restarted from nothing gets its quarantines back before it serves. From
// then on every replica takes the quarantines the leader writes, and
// releases them when their policies go.
func (w *Writeback) Rebuild(ctx context.Context) (int, error) {
	w.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), w.aps.HasSynced) {
		return 0, fmt.Errorf("kube: quarantine policies did not sync")
	}
	n := 0
	for _, p := range w.policies() {
		if _, err := QuarantineOf(p, w.Namespace); err != nil {
			w.Log.Warn().Err(err).Msg("not a quarantine: left alone")
		} else if w.adopt(p) {
			n++
		}
	}
	return n, nil
}

func (w *Writeback) policies() []*securityv1.AuthorizationPolicy {
	var out []*securityv1.AuthorizationPolicy
	for _, o := range w.aps.GetStore().List() {
		if p, ok := o.(*securityv1.AuthorizationPolicy); ok {
			out = append(out, p)
		}
	}
	return out
}

// pollEvery is how often the leader looks at the set's epoch: the set
// offers no change callback, and an atomic read costs nothing.
const pollEvery = 100 * time.Millisecond

// Lead writes the set into policies until ctx ends (the leadership is
// lost): after every change of the set or of the policies, and at each
// quarantine's expiry.
func (w *Writeback) Lead(ctx context.Context) {
	w.Log.Info().Str("namespace", w.Namespace).Msg("quarantine write-back: leading")
	r := newReconciler(w)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var seen uint64
	next := time.Time{}
	for {
		epoch := w.Set.Epoch()
		if epoch != seen || (!next.IsZero() && !time.Now().Before(next)) || r.dirty {
			seen = epoch
			next = r.pass(ctx)
		}
		select {
		case <-ctx.Done():
			w.Log.Info().Msg("quarantine write-back: no longer leading")
			return
		case <-w.kick:
			r.dirty = true
		case <-tick.C:
		}
	}
}

// mine is a policy this leader wrote or took over: its UID, and whether
// the watch has shown it since (until then, its absence is the watch's lag,
// not an operator's deletion).
type mine struct {
	uid  types.UID
	seen bool
}
