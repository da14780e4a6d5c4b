package main

import (
	"context"
	"errors"
	"os"

	"github.com/rs/zerolog"
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"

	"github.com/meshward/meshward/extauthz/kube"
	"github.com/meshward/meshward/extauthz/quarantine"
	"github.com/meshward/meshward/internal/election"
)

// writebackFlags: quarantines written back as AuthorizationPolicies by
// the leader of the authorizer's replicas.
type writebackFlags struct {
	on                bool
	namespace         string
	leaseNamespace    string
	leaseName, leader string
}

func (f *writebackFlags) add(fs *pflag.FlagSet) {
	fs.BoolVar(&f.on, "quarantine-writeback", false, "write each quarantine as a DENY AuthorizationPolicy (the leader of the replicas writes; every replica rebuilds its quarantines from them at start; deleting one releases it); needs --kubeconfig or --in-cluster")
	fs.StringVar(&f.namespace, "quarantine-policy-namespace", "istio-system", "the mesh's root namespace, where quarantine policies are written and read")
	fs.StringVar(&f.leaseNamespace, "leader-election-namespace", "", "namespace of the leader election Lease (default: $POD_NAMESPACE, else --quarantine-policy-namespace)")
	fs.StringVar(&f.leaseName, "leader-election-lease", "meshward-authorizer-writeback", "name of the leader election Lease")
	fs.StringVar(&f.leader, "leader-election-id", "", "this replica's identity in the election (default: the host name)")
}

// start rebuilds the set from the cluster's quarantine policies and campaigns
// for the write-back; nil set without --quarantine-writeback.
func (f *writebackFlags) start(ctx context.Context, kcfg *rest.Config, log zerolog.Logger) (*quarantine.Set, error) {
	if !f.on {
		return nil, nil
	}
	if kcfg == nil {
		return nil, errors.New("--quarantine-writeback needs --kubeconfig or --in-cluster")
	}
	set := quarantine.New()
	wb, err := kube.NewWriteback(kcfg, set, f.namespace, log)
	if err != nil {
		return nil, err
	}
	el, err := election.NewLease(kcfg, f.leaseNS(), f.leaseName, f.id(), election.DefaultTiming)
	if err != nil {
		return nil, err
	}
	n, err := wb.Rebuild(ctx)
	if err != nil {
		return nil, err
	}
	log.Info().Int("quarantines", n).Str("namespace", f.namespace).Msg("quarantines rebuilt from their AuthorizationPolicies")
	go func() { _ = el.Run(ctx, wb.Lead) }()
	return set, nil
}

func (f *writebackFlags) leaseNS() string {
	if f.leaseNamespace != "" {
		return f.leaseNamespace
	}
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	return f.namespace
}

func (f *writebackFlags) id() string {
	if f.leader != "" {
		return f.leader
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "extauthz"
	}
	return h
}
