package images

import (
	"bytes"
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Istio's WasmPlugin pulls a filter from an oci:// image in either of the
// two forms of the Wasm image specification (solo-io/wasm spec/): "compat",
// a Docker image whose last layer holds plugin.wasm, and "oci", an artifact
// of exactly two layers, the runtime configuration and the raw module.
const (
	// PluginFile is the module's name in the compat form's layer.
	PluginFile = "plugin.wasm"
	// WasmConfigType and WasmLayerType are the oci form's media types.
	WasmConfigType types.MediaType = "application/vnd.module.wasm.config.v1+json"
	WasmLayerType  types.MediaType = "application/vnd.module.wasm.content.layer.v1+wasm"
)

// WasmCompat is the compat form with Docker media types: one gzipped tar
// layer (application/vnd.docker.image.rootfs.diff.tar.gzip) holding
// plugin.wasm.
func WasmCompat(module []byte, m Meta) (v1.Image, error) {
	layer, err := tarLayer(types.DockerLayer, m.Created, file{PluginFile, module, 0o444})
	if err != nil {
		return nil, err
	}
	return singleLayer(types.DockerManifestSchema2, types.DockerConfigJSON, layer, func(cf *v1.ConfigFile) {
		cf.OS, cf.Architecture = "wasip1", "wasm"
		cf.Config = v1.Config{Labels: m.labels("meshward-filter", "meshward's proxy-wasm filter (compat form)")}
	}, m)
}

// runtimeConfig is the oci form's configuration for Envoy.
type runtimeConfig struct {
	Type       string `json:"type"`
	ABIVersion string `json:"abi_version"`
	Config     struct {
		RootIDs []string `json:"root_ids"`
	} `json:"config"`
}

// WasmArtifact is the oci form: the runtime configuration is the image's
// configuration and its first layer, the raw module the second.
func WasmArtifact(module []byte, rootIDs []string, m Meta) (v1.Image, error) {
	rc := runtimeConfig{Type: "envoy_proxy", ABIVersion: "v0.2.1"}
	rc.Config.RootIDs = append([]string{}, rootIDs...)
	cfg, err := json.Marshal(rc)
	if err != nil {
		return nil, err
	}
	a := &raw{mt: types.OCIManifestSchema1, config: cfg, layers: []v1.Layer{static.NewLayer(cfg, WasmConfigType), static.NewLayer(module, WasmLayerType)}}
	titles := []string{"runtime-config.json", "filter.wasm"}
	man := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		Config:      v1.Descriptor{MediaType: WasmConfigType, Size: int64(len(cfg)), Digest: digestOf(cfg)},
		Annotations: m.labels("meshward-filter", "meshward's proxy-wasm filter (oci form)")}
	for i, l := range a.layers {
		d, err := partial.Descriptor(l)
		if err != nil {
			return nil, err
		}
		d.Annotations = map[string]string{"org.opencontainers.image.title": titles[i]}
		man.Layers = append(man.Layers, *d)
	}
	if a.manifest, err = json.Marshal(man); err != nil {
		return nil, err
	}
	return partial.CompressedToImage(a)
}

func digestOf(b []byte) v1.Hash {
	h, _, _ := v1.SHA256(bytes.NewReader(b))
	return h
}

// raw is an image as its manifest's bytes say: what go-containerregistry's
// mutate computes can differ from what it serializes (an empty map of
// annotations against none), which its own validation refuses.
type raw struct {
	mt               types.MediaType
	manifest, config []byte
	layers           []v1.Layer
}

// settle makes img a raw image of its own bytes.
func settle(img v1.Image) (v1.Image, error) {
	r := &raw{}
	var err error
	if r.mt, err = img.MediaType(); err != nil {
		return nil, err
	}
	if r.manifest, err = img.RawManifest(); err != nil {
		return nil, err
	}
	if r.config, err = img.RawConfigFile(); err != nil {
		return nil, err
	}
	if r.layers, err = img.Layers(); err != nil {
		return nil, err
	}
	return partial.CompressedToImage(r)
}

func (r *raw) RawConfigFile() ([]byte, error)      { return r.config, nil }
func (r *raw) MediaType() (types.MediaType, error) { return r.mt, nil }
func (r *raw) RawManifest() ([]byte, error)        { return r.manifest, nil }
func (r *raw) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range r.layers {
		if d, err := l.Digest(); err == nil && d == h {
			return l, nil
		}
	}
	if h == digestOf(r.config) {
		return static.NewLayer(r.config, WasmConfigType), nil
	}
	return nil, fmt.Errorf("images: no blob %s in the image", h)
}
