// Package install renders meshward's Kubernetes manifests (manifests/: a
// kustomize base, overlays, and the mesh's side) with kustomize's krusty,
// and pins every image the result names to the digest `make images` built
// (build/images/images.json): a rendered manifest never pulls by tag.
package install

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"

	"github.com/google/go-containerregistry/pkg/name"
)

// Image is one image of images.json: where it is pushed and its digest.
type Image struct {
	Ref    string `json:"ref"`
	Digest string `json:"digest"`
	// repo is Ref without its tag: the pinned name is repo@digest.
	repo string
}

// Pinned is the image's name pinned to its digest.
func (i Image) Pinned() string { return i.repo + "@" + i.Digest }

// Images are the built images by name (extauthz, xds, ebpf-agent,
// meshward-filter, ...).
type Images map[string]Image

// maxIndex bounds images.json: a handful of entries fit in a few KiB.
const maxIndex = 1 << 20

var (
	digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	keyRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
)

// LoadImages reads images.json.
func LoadImages(path string) (Images, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > maxIndex {
		return nil, fmt.Errorf("%s: %d bytes, want at most %d", path, st.Size(), maxIndex)
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ParseImages(path, b)
}

// ParseImages parses an images.json named file: every entry needs a ref
// that names a repository and a sha256 digest.
func ParseImages(file string, data []byte) (Images, error) {
	if len(data) > maxIndex {
		return nil, fmt.Errorf("%s: %d bytes, want at most %d", file, len(data), maxIndex)
	}
	var raw map[string]Image
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(Images, len(raw))
	for _, k := range keys {
		img, err := checkImage(k, raw[k])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		out[k] = img
	}
	return out, nil
}

func checkImage(key string, img Image) (Image, error) {
	if !keyRE.MatchString(key) {
		return img, fmt.Errorf("image name %.70q: want lower-case letters, digits and dashes", key)
	}
	if !digestRE.MatchString(img.Digest) {
		return img, fmt.Errorf("%s: digest %.80q is not sha256:<64 lower-case hex>", key, img.Digest)
	}
	ref, err := name.ParseReference(img.Ref, name.StrictValidation)
	if err != nil {
		return img, fmt.Errorf("%s: ref %.200q: %w", key, img.Ref, err)
	}
	if d, ok := ref.(name.Digest); ok && d.DigestStr() != img.Digest {
		return img, fmt.Errorf("%s: ref %q names another digest than %s", key, img.Ref, img.Digest)
	}
	img.repo = ref.Context().Name()
	return img, nil
}
