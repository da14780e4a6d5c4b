// Package election runs work on one replica at a time: a Kubernetes Lease
// (client-go leaderelection) where there is a cluster, etcd's concurrency
// election where there is none. Both give the same small interface, so a
// component's leader-only work does not care which one it runs under.
package election

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Elector campaigns for one named leadership.
type Elector interface {
	// Run campaigns until ctx ends. Each time this replica becomes leader,
	// lead runs with a context that ends when the leadership is lost (or
	// ctx ends); lead must return then. Losing it, the replica campaigns
	// again.
	Run(ctx context.Context, lead func(ctx context.Context)) error
	// Leader is the identity of the replica that leads now, as this replica
	// last saw it ("" if none is known).
	Leader() string
}

// Timing bounds how long a dead leader keeps its leadership: another replica
// takes over at most LeaseDuration + RetryPeriod after the leader's last
// renewal.
type Timing struct {
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
}

// DefaultTiming takes over within 12 s of a leader's death (10 s lease, 2 s
// retries), and renews within 7 s, under a busy API server too.
var DefaultTiming = Timing{LeaseDuration: 10 * time.Second, RenewDeadline: 7 * time.Second, RetryPeriod: 2 * time.Second}

func (t Timing) check() error {
	switch {
	case t.RetryPeriod <= 0 || t.RenewDeadline <= t.RetryPeriod || t.LeaseDuration <= t.RenewDeadline:
		return fmt.Errorf("election: want 0 < retry period (%v) < renew deadline (%v) < lease duration (%v)",
			t.RetryPeriod, t.RenewDeadline, t.LeaseDuration)
	case t.LeaseDuration%time.Second != 0:
		return fmt.Errorf("election: lease duration %v is not whole seconds (etcd leases count seconds)", t.LeaseDuration)
	}
	return nil
}

// maxName bounds names and identities: a Lease name is a DNS subdomain.
const maxName = 253

// checkNames refuses empty and oversized names; a Lease name (not an etcd
// prefix) may not contain '/'.
func checkNames(name, id string, slash bool) error {
	switch {
	case name == "" || len(name) > maxName:
		return fmt.Errorf("election: name %q: want 1 to %d characters", name, maxName)
	case id == "" || len(id) > maxName:
		return fmt.Errorf("election: identity %q: want 1 to %d characters", id, maxName)
	case strings.ContainsAny(name, " \n") || (!slash && strings.Contains(name, "/")):
		return fmt.Errorf("election: name %q: no spaces or newlines (nor '/' in a Lease name)", name)
	}
	return nil
}
