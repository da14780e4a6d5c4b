package pods

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/meshward/meshward/ebpf-agent/agent"
)

// Syncer takes the set of containers to watch (agent.Agent).
type Syncer interface {
	Sync([]agent.Workload) error
}

// Watcher keeps a Syncer's set equal to the running containers of one
// node's pods.
type Watcher struct {
	Client   kubernetes.Interface
	Node     string
	Find     func(containerID string) (string, error)
	Target   Syncer
	Log      zerolog.Logger
	Resync   time.Duration // also look again this often: a container's first process may come after its status
	OnSynced func([]agent.Workload)
}

// Run follows the node's pods until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	if w.Node == "" {
		return errors.New("pods: the node's name is required")
	}
	if w.Resync == 0 {
		w.Resync = 10 * time.Second
	}
	f := informers.NewSharedInformerFactoryWithOptions(w.Client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", w.Node).String()
	}))
	inf := f.Core().V1().Pods()
	changed := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: poke, DeleteFunc: poke, UpdateFunc: func(_, n any) { poke(n) },
	}); err != nil {
		return err
	}
	f.Start(ctx.Done())
	defer f.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		return ctx.Err()
	}
	tick := time.NewTicker(w.Resync)
	defer tick.Stop()
	for {
		pods, err := inf.Lister().List(labels.Everything())
		if err == nil {
			w.sync(pods)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-tick.C:
		}
	}
}

func (w *Watcher) sync(pods []*corev1.Pod) {
	var all []agent.Workload
	for _, p := range pods {
		ws, err := Containers(p, w.Find)
		if err != nil {
			w.Log.Debug().Err(err).Msg("container not placed yet")
		}
		all = append(all, ws...)
	}
	if err := w.Target.Sync(all); err != nil {
		w.Log.Error().Err(err).Msg("watching this node's containers")
	}
	if w.OnSynced != nil {
		w.OnSynced(all)
	}
}
