package images

import (
	"fmt"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// RefAnnotation names an image in an OCI layout's index.
const RefAnnotation = "org.opencontainers.image.ref.name"

// WriteLayout writes img as the only image of an OCI layout at dir
// (replacing what was there), named ref, and returns its digest.
func WriteLayout(dir, ref string, img v1.Image) (v1.Hash, error) {
	if err := os.RemoveAll(dir); err != nil {
		return v1.Hash{}, err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("images: %s: %w", dir, err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{RefAnnotation: ref})); err != nil {
		return v1.Hash{}, fmt.Errorf("images: %s: %w", dir, err)
	}
	return img.Digest()
}

// ReadLayout reads back the one image of the layout at dir, with its name.
func ReadLayout(dir string) (v1.Image, string, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, "", err
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, "", err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, "", err
	}
	if len(im.Manifests) != 1 {
		return nil, "", fmt.Errorf("images: %s holds %d images, want 1", dir, len(im.Manifests))
	}
	d := im.Manifests[0]
	img, err := idx.Image(d.Digest)
	return img, d.Annotations[RefAnnotation], err
}
