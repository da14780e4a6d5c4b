package election

import (
	"context"
	"sync"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Lease elects through a coordination.k8s.io Lease.
type Lease struct {
	le *leaderelection.LeaderElector
	// lead is Run's: client-go takes its callbacks at construction.
	mu   sync.Mutex
	lead func(context.Context)
	// term serializes lead calls: client-go starts each in a goroutine of
	// its own, and a new term's must not overlap the last one's end.
	term sync.Mutex
}

// NewLease campaigns for the Lease namespace/name as id.
func NewLease(cfg *rest.Config, namespace, name, id string, t Timing) (*Lease, error) {
	if err := checkNames(name, id, false); err != nil {
		return nil, err
	}
	if err := t.check(); err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(rest.CopyConfig(cfg))
	if err != nil {
		return nil, err
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, namespace, name, cs.CoreV1(), cs.CoordinationV1(),
		resourcelock.ResourceLockConfig{Identity: id})
	if err != nil {
		return nil, err
	}
	l := &Lease{}
	l.le, err = leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, LeaseDuration: t.LeaseDuration, RenewDeadline: t.RenewDeadline, RetryPeriod: t.RetryPeriod,
		// A replica that stops hands over at once instead of after the lease.
		ReleaseOnCancel: true,
		Name:            name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: l.started,
			OnStoppedLeading: func() {},
		},
	})
	return l, err
}

func (l *Lease) started(ctx context.Context) {
	l.term.Lock()
	defer l.term.Unlock()
	l.mu.Lock()
	lead := l.lead
	l.mu.Unlock()
	if ctx.Err() == nil { // a term already over, started late
		lead(ctx)
	}
}

// Run campaigns until ctx ends; client-go's Run returns when the lease is
// lost, and the replica campaigns again.
func (l *Lease) Run(ctx context.Context, lead func(context.Context)) error {
	l.mu.Lock()
	l.lead = lead
	l.mu.Unlock()
	for ctx.Err() == nil {
		l.le.Run(ctx)
		pause(ctx) // lost: campaign again
	}
	return nil
}

// Leader is the Lease's holder as last observed.
func (l *Lease) Leader() string { return l.le.GetLeader() }
