package install

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Targets are the kustomizations of manifests/ that render an install:
// the control components (one overlay of the two) and the mesh's side (the
// filter through WasmPlugin or through EnvoyFilter, and the CUSTOM policy).
var Targets = []string{"overlays/minimal", "overlays/ha", "mesh/wasmplugin", "mesh/envoyfilter"}

// Component images: the base names each by the key of its images.json
// entry under this prefix, and the filter's url is FilterURL.
const (
	imagePrefix = "meshward/"
	// FilterURL is the unpinned url the WasmPlugins and the EnvoyFilter name.
	FilterURL = "oci://" + imagePrefix + filterImage
	// filterImage is the Docker-compatible single-layer variant: every
	// Istio release that pulls oci:// takes it.
	filterImage = "meshward-filter"
)

// Object is one rendered Kubernetes object.
type Object = map[string]any

// maxTree bounds what Render reads from the manifests directory.
const maxTree = 16 << 20

// Render builds target (one of Targets, or any kustomization below dir) of
// the manifests in dir and pins every image to imgs. It fails rather than
// return an object that names an image by tag.
func Render(dir, target string, imgs Images) ([]Object, error) {
	clean := path.Clean(target)
	if clean != target || path.IsAbs(clean) || clean == "." || strings.HasPrefix(clean, "..") {
		return nil, fmt.Errorf("install: target %q: want a clean path below the manifests directory", target)
	}
	mem, err := copyTree(dir)
	if err != nil {
		return nil, err
	}
	k, err := wrapper(clean, imgs)
	if err != nil {
		return nil, err
	}
	if err := mem.WriteFile("/render/kustomization.yaml", k); err != nil {
		return nil, err
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, "/render")
	if err != nil {
		return nil, fmt.Errorf("install: %s: %w", target, err)
	}
	var objs []Object
	for _, r := range m.Resources() {
		o, err := r.Map()
		if err != nil {
			return nil, fmt.Errorf("install: %s: %s: %w", target, r.CurId(), err)
		}
		objs = append(objs, o)
	}
	if err := pinFilter(objs, imgs); err != nil {
		return nil, fmt.Errorf("install: %s: %w", target, err)
	}
	if err := CheckPinned(objs); err != nil {
		return nil, fmt.Errorf("install: %s: %w", target, err)
	}
	return objs, nil
}

// wrapper is the kustomization that renders target with the images pinned.
func wrapper(target string, imgs Images) ([]byte, error) {
	k := types.Kustomization{Resources: []string{"../manifests/" + target}}
	k.APIVersion, k.Kind = types.KustomizationVersion, types.KustomizationKind
	keys := make([]string, 0, len(imgs))
	for key := range imgs {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		img := imgs[key]
		k.Images = append(k.Images, types.Image{Name: imagePrefix + key, NewName: img.repo, Digest: img.Digest})
	}
	return yaml.Marshal(k)
}

// copyTree copies dir's YAML files into memory, under /manifests: what is
// rendered is what was read, whatever changes on disk meanwhile.
func copyTree(dir string) (filesys.FileSystem, error) {
	mem := filesys.MakeFsInMemory()
	total := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !(strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if total += len(b); total > maxTree {
			return fmt.Errorf("%s: the manifests exceed %d bytes", dir, maxTree)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		return mem.WriteFile("/manifests/"+filepath.ToSlash(rel), b)
	})
	if err != nil {
		return nil, fmt.Errorf("install: reading %s: %w", dir, err)
	}
	return mem, nil
}

// ErrUnpinned says a rendered object names an image without its digest.
var ErrUnpinned = errors.New("image not pinned to a digest")
