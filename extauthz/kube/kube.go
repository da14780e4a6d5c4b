// Package kube feeds the authorizer from Kubernetes: informers on Istio's
// AuthorizationPolicy (security.istio.io/v1, through istio.io/client-go) and
// on meshward's MeshwardPolicy (meshward.io/v1alpha1, through the dynamic
// client). Every change rebuilds the policy set; an object that does not
// compile is reported and its last good version stays in force.
package kube

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	istioinformers "istio.io/client-go/pkg/informers/externalversions"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	meshwardv1alpha1 "github.com/meshward/meshward/api/meshward/v1alpha1"
	"github.com/meshward/meshward/extauthz/policy"
)

// MeshwardPolicies is the resource of meshward's kind.
var MeshwardPolicies = schema.GroupVersionResource{Group: meshwardv1alpha1.Group, Version: meshwardv1alpha1.Version, Resource: "meshwardpolicies"}

// Source watches the cluster and hands each new policy set to Apply.
type Source struct {
	Apply  func(*policy.Set)
	Reject func(object string, err error) // an object that does not compile

	istio  istioinformers.SharedInformerFactory
	dyn    dynamicinformer.DynamicSharedInformerFactory
	aps    cache.SharedIndexInformer
	mps    cache.SharedIndexInformer
	mu     sync.Mutex
	good   map[string]any // last good compiled object by kind/namespace/name
	kick   chan struct{}
	resync time.Duration
}

// New makes a source for the cluster cfg reaches.
func New(cfg *rest.Config, resync time.Duration) (*Source, error) {
	ic, err := istioclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube: istio client: %w", err)
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube: dynamic client: %w", err)
	}
	s := &Source{good: map[string]any{}, kick: make(chan struct{}, 1), resync: resync}
	s.istio = istioinformers.NewSharedInformerFactory(ic, resync)
	s.aps = s.istio.Security().V1().AuthorizationPolicies().Informer()
	s.dyn = dynamicinformer.NewDynamicSharedInformerFactory(dc, resync)
	s.mps = s.dyn.ForResource(MeshwardPolicies).Informer()
	for _, inf := range []cache.SharedIndexInformer{s.aps, s.mps} {
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { s.changed() },
			UpdateFunc: func(any, any) { s.changed() },
			DeleteFunc: func(any) { s.changed() },
		}); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Source) changed() {
	select {
	case s.kick <- struct{}{}:
	default: // a rebuild is already due; it will see this change too
	}
}

// Run starts the informers, waits for their first list, applies the first
// set, and rebuilds on every change until ctx ends.
func (s *Source) Run(ctx context.Context) error {
	s.istio.Start(ctx.Done())
	s.dyn.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), s.aps.HasSynced, s.mps.HasSynced) {
		return fmt.Errorf("kube: informers did not sync")
	}
	s.rebuild()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.kick:
			s.rebuild()
		}
	}
}

// rebuild compiles every object; one that fails keeps its last good version.
func (s *Source) rebuild() {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	var policies []*policy.Policy
	var settings []*policy.Settings
	for _, o := range s.aps.GetStore().List() {
		ap, ok := o.(*securityv1.AuthorizationPolicy)
		if !ok {
			continue
		}
		key := "AuthorizationPolicy/" + ap.Namespace + "/" + ap.Name
		seen[key] = true
		p, err := policy.Compile(ap)
		if err == nil {
			p.Source = key
			s.good[key] = p
		} else if s.Reject != nil {
			s.Reject(key, err)
		}
		if good, ok := s.good[key].(*policy.Policy); ok {
			policies = append(policies, good)
		}
	}
	for _, o := range s.mps.GetStore().List() {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		key := "MeshwardPolicy/" + u.GetNamespace() + "/" + u.GetName()
		seen[key] = true
		st, err := compileMeshward(u)
		if err == nil {
			st.Source = key
			s.good[key] = st
		} else if s.Reject != nil {
			s.Reject(key, err)
		}
		if good, ok := s.good[key].(*policy.Settings); ok {
			settings = append(settings, good)
		}
	}
	for key := range s.good {
		if !seen[key] {
			delete(s.good, key) // deleted from the cluster
		}
	}
	// Declaration order decides between rules; informers list in map order.
	sort.Slice(policies, func(i, j int) bool { return policies[i].Source < policies[j].Source })
	if s.Apply != nil {
		s.Apply(policy.NewSet(policies, settings))
	}
}

func compileMeshward(u *unstructured.Unstructured) (*policy.Settings, error) {
	var mp meshwardv1alpha1.MeshwardPolicy
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, &mp, true); err != nil {
		return nil, err
	}
	return policy.CompileSettings(&mp)
}
