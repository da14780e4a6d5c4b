package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/meshward/meshward/internal/install"
)

// applier applies objects server-side, each first as a dry run.
type applier struct {
	dc     dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newApplier(t *testing.T, cfg *rest.Config) *applier {
	t.Helper()
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &applier{dc: dynamic.NewForConfigOrDie(cfg), mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))}
}

// applyAll applies namespaces and CRDs first (and waits until each CRD is
// served), then the rest in the order given.
func (a *applier) applyAll(ctx context.Context, t *testing.T, what string, objs []install.Object) {
	t.Helper()
	rank := func(o install.Object) int {
		switch o["kind"] {
		case "Namespace":
			return 0
		case "CustomResourceDefinition":
			return 1
		}
		return 2
	}
	sorted := append([]install.Object(nil), objs...)
	sort.SliceStable(sorted, func(i, j int) bool { return rank(sorted[i]) < rank(sorted[j]) })
	for _, o := range sorted {
		u := &unstructured.Unstructured{}
		b, err := json.Marshal(o)
		if err == nil {
			err = u.UnmarshalJSON(b) // numbers as int64, as unstructured wants them
		}
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := a.apply(ctx, u); err != nil {
			t.Fatalf("%s: %s %s/%s: %v", what, u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
		if u.GetKind() == "CustomResourceDefinition" {
			a.waitEstablished(ctx, t, u.GetName())
		}
	}
}

func (a *applier) apply(ctx context.Context, u *unstructured.Unstructured) error {
	m, err := a.mapping(ctx, u.GroupVersionKind())
	if err != nil {
		return err
	}
	var ri dynamic.ResourceInterface = a.dc.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = a.dc.Resource(m.Resource).Namespace(u.GetNamespace())
	}
	for _, dry := range [][]string{{metav1.DryRunAll}, nil} {
		if _, err := ri.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: "meshward-install", Force: true, DryRun: dry}); err != nil {
			return fmt.Errorf("apply (dry run %v): %w", dry != nil, err)
		}
	}
	return nil
}

// mapping finds the resource of gvk, asking discovery again while a CRD
// just created is not yet listed.
func (a *applier) mapping(ctx context.Context, gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	for {
		m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err == nil || !meta.IsNoMatchError(err) {
			return m, err
		}
		a.mapper.Reset()
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%v: %w", err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (a *applier) waitEstablished(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	for {
		u, err := a.dc.Resource(gvr).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				if m, _ := c.(map[string]any); m["type"] == "Established" && m["status"] == "True" {
					a.mapper.Reset()
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("CRD %s not established: %v", name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// readObjects reads a multi-document YAML file.
func readObjects(t *testing.T, path string) []install.Object {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []install.Object
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var o install.Object
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if o != nil {
			out = append(out, o)
		}
	}
}

// installImages is an images.json as `make images` writes it, with digests
// no build makes: what is checked is that the API takes the pinned names.
func installImages(t *testing.T) install.Images {
	t.Helper()
	var parts []string
	for i, n := range []string{"extauthz", "xds", "ebpf-agent", "meshward-filter", "meshward-filter-oci"} {
		parts = append(parts, fmt.Sprintf(`%q: {"ref": "registry.test/meshward/%s:0.1.0", "digest": "sha256:%s"}`, n, n, strings.Repeat(fmt.Sprint(i), 64)))
	}
	imgs, err := install.ParseImages("images.json", []byte("{"+strings.Join(parts, ",")+"}"))
	if err != nil {
		t.Fatal(err)
	}
	return imgs
}

func isForbidden(err error) bool { return apierrors.IsForbidden(err) }
