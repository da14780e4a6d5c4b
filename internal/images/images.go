// Package images makes meshward's OCI images from built binaries: static
// binaries on an empty base, one layer, a non-root user, OCI labels, and
// nothing that varies between builds of the same inputs (file times,
// owners, the creation time and gzip headers are fixed), so the same
// binary always gives the same digest and manifests can pin it.
package images

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"path"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// NonRoot is the user images run as: distroless's "nonroot", which the
// manifests' runAsUser repeats.
const NonRoot = "65532:65532"

// BinDir is where a component's binary is in its image.
const BinDir = "/usr/local/bin"

// Meta is what every image is labelled with.
type Meta struct {
	Version  string
	Revision string // the source's commit
	Source   string // the repository's URL
	// Created is the images' creation time: the commit's time
	// (SOURCE_DATE_EPOCH), never the build's, or the digest would change
	// on every build.
	Created time.Time
	// Arch is the binaries' GOARCH.
	Arch string
}

func (m Meta) labels(title, description string) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       title,
		"org.opencontainers.image.description": description,
		"org.opencontainers.image.version":     m.Version,
		"org.opencontainers.image.revision":    m.Revision,
		"org.opencontainers.image.source":      m.Source,
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.created":     m.Created.UTC().Format(time.RFC3339),
	}
}

// Component is one control component's binary.
type Component struct {
	Name        string // the binary's and the image's name: extauthz, xds, ebpf-agent
	Description string
	Binary      []byte // a static Linux executable
	// Args are the entrypoint's default arguments (the manifests give their own).
	Args []string
}

// Image makes c's image: the binary alone at BinDir/<name>, run as
// NonRoot with no shell and nothing else to run.
func Image(c Component, m Meta) (v1.Image, error) {
	if c.Name == "" || path.Base(c.Name) != c.Name || len(c.Binary) == 0 {
		return nil, fmt.Errorf("images: component %q: want a plain name and a binary", c.Name)
	}
	layer, err := tarLayer(types.OCILayer, m.Created, file{BinDir + "/" + c.Name, c.Binary, 0o555})
	if err != nil {
		return nil, err
	}
	return singleLayer(types.OCIManifestSchema1, types.OCIConfigJSON, layer, func(cf *v1.ConfigFile) {
		cf.OS, cf.Architecture = "linux", m.Arch
		cf.Config = v1.Config{Entrypoint: []string{BinDir + "/" + c.Name}, Cmd: c.Args, User: NonRoot, WorkingDir: "/",
			Labels: m.labels(c.Name, c.Description)}
	}, m)
}

// singleLayer is an image of one layer on no base, of the manifest and
// configuration media types given, whose configuration set fills in.
func singleLayer(manifest, config types.MediaType, layer v1.Layer, set func(*v1.ConfigFile), m Meta) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, manifest)
	img = mutate.ConfigMediaType(img, config)
	img, err := mutate.AppendLayers(img, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Created, cf.History = v1.Time{Time: m.Created.UTC()}, nil
	set(cf)
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, err
	}
	return settle(img)
}

type file struct {
	name string
	data []byte
	mode int64
}

// tarLayer is a gzipped tar of files, every header fixed but the name,
// mode and size.
func tarLayer(mt types.MediaType, mtime time.Time, files ...file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name[1:], Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg,
			ModTime: mtime.UTC(), Format: tar.FormatPAX, Uname: "root", Gname: "root"}
		if f.name[0] != '/' {
			h.Name = f.name
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(mt))
}
