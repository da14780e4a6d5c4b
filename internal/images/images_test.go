package images

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"path/filepath"
	"slices"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

var meta = Meta{Version: "0.1.0", Revision: "abc123", Source: "https://github.com/meshward/meshward",
	Created: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), Arch: "amd64"}

// filesOf lists a gzipped tar layer's entries.
func filesOf(t *testing.T, gz io.Reader) map[string]*tar.Header {
	t.Helper()
	zr, err := gzip.NewReader(gz)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	out := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = h
	}
}

func fileIn(t *testing.T, l v1.Layer, name string) []byte {
	t.Helper()
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s not in the layer: %v", name, err)
		}
		if h.Name == name {
			b, _ := io.ReadAll(tr)
			return b
		}
	}
}

func TestComponentImage(t *testing.T) {
	bin := []byte("\x7fELF pretend static binary")
	img, err := Image(Component{Name: "xds", Description: "moving-target xDS server", Binary: bin}, meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("the image is not consistent: %v", err)
	}
	layers, _ := img.Layers()
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1 (no base)", len(layers))
	}
	if mt, _ := layers[0].MediaType(); mt != types.OCILayer {
		t.Errorf("layer media type %s", mt)
	}
	rc, _ := layers[0].Compressed()
	files := filesOf(t, rc)
	h := files["usr/local/bin/xds"]
	if len(files) != 1 || h == nil || h.Mode != 0o555 || h.Uid != 0 || !h.ModTime.Equal(meta.Created) {
		t.Fatalf("layer files %v (xds: %+v)", files, h)
	}
	if got := fileIn(t, layers[0], "usr/local/bin/xds"); !bytes.Equal(got, bin) {
		t.Error("the layer's binary is not the one given")
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/xds"}) || c.User != NonRoot || cf.OS != "linux" || cf.Architecture != "amd64" ||
		c.Labels["org.opencontainers.image.revision"] != "abc123" || !cf.Created.Equal(meta.Created) {
		t.Errorf("config %+v", cf)
	}
	if mt, _ := img.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s", mt)
	}
}

// Same inputs, same digest; another binary or revision, another digest.
func TestImagesAreReproducible(t *testing.T) {
	digest := func(bin string, m Meta) v1.Hash {
		img, err := Image(Component{Name: "extauthz", Binary: []byte(bin)}, m)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a, b := digest("one", meta), digest("one", meta)
	if a != b {
		t.Fatalf("two builds of the same inputs: %s and %s", a, b)
	}
	other := meta
	other.Revision = "def456"
	if digest("two", meta) == a || digest("one", other) == a {
		t.Error("a different binary or revision kept the digest")
	}
	w1, _ := WasmArtifact([]byte("\x00asm module"), nil, meta)
	w2, _ := WasmArtifact([]byte("\x00asm module"), nil, meta)
	d1, _ := w1.Digest()
	d2, _ := w2.Digest()
	c1, _ := WasmCompat([]byte("\x00asm module"), meta)
	c2, _ := WasmCompat([]byte("\x00asm module"), meta)
	e1, _ := c1.Digest()
	e2, _ := c2.Digest()
	if d1 != d2 || e1 != e2 {
		t.Error("a Wasm image's digest changed between two builds")
	}
}

func TestBadComponent(t *testing.T) {
	for _, c := range []Component{{Name: "", Binary: []byte("x")}, {Name: "../xds", Binary: []byte("x")}, {Name: "xds"}} {
		if _, err := Image(c, meta); err == nil {
			t.Errorf("%+v was accepted", c)
		}
	}
}

// Both forms are read back the way Istio's image fetcher reads them: the
// compat form's last layer is a Docker gzipped tar holding plugin.wasm; the
// oci form has exactly two layers, one of them the raw module.
func TestWasmFormsIstioAccepts(t *testing.T) {
	module := []byte("\x00asm\x01\x00\x00\x00 the filter")
	compat, err := WasmCompat(module, meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(compat); err != nil {
		t.Fatalf("compat: %v", err)
	}
	layers, _ := compat.Layers()
	last := layers[len(layers)-1]
	if mt, _ := last.MediaType(); mt != types.DockerLayer {
		t.Fatalf("compat: last layer %s, want %s", mt, types.DockerLayer)
	}
	if got := fileIn(t, last, PluginFile); !bytes.Equal(got, module) {
		t.Error("compat: plugin.wasm is not the module")
	}

	art, err := WasmArtifact(module, []string{"meshward"}, meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(art); err != nil {
		t.Fatalf("oci: %v", err)
	}
	layers, _ = art.Layers()
	if len(layers) != 2 {
		t.Fatalf("oci: %d layers, want 2", len(layers))
	}
	var found bool
	for _, l := range layers {
		if mt, _ := l.MediaType(); mt == WasmLayerType {
			rc, _ := l.Compressed()
			got, _ := io.ReadAll(rc)
			found = bytes.Equal(got, module)
		}
	}
	man, _ := art.Manifest()
	raw, _ := art.RawConfigFile()
	if !found || man.Config.MediaType != WasmConfigType || !bytes.Contains(raw, []byte(`"type":"envoy_proxy"`)) ||
		!bytes.Contains(raw, []byte(`"root_ids":["meshward"]`)) {
		t.Errorf("oci: module found %v, config %s %s", found, man.Config.MediaType, raw)
	}
}

func TestLayoutRoundTrip(t *testing.T) {
	img, err := Image(Component{Name: "ebpf-agent", Binary: []byte("agent")}, meta)
	if err != nil {
		t.Fatal(err)
	}
	art, err := WasmArtifact([]byte("\x00asm"), nil, meta)
	if err != nil {
		t.Fatal(err)
	}
	for name, im := range map[string]v1.Image{"agent": img, "wasm": art} {
		dir := filepath.Join(t.TempDir(), name)
		d, err := WriteLayout(dir, "meshward/"+name+":0.1.0", im)
		if err != nil {
			t.Fatal(err)
		}
		back, ref, err := ReadLayout(dir)
		if err != nil {
			t.Fatal(err)
		}
		bd, _ := back.Digest()
		if bd != d || ref != "meshward/"+name+":0.1.0" {
			t.Errorf("%s: read back %s %q, wrote %s", name, bd, ref, d)
		}
		if err := validate.Image(back); err != nil {
			t.Errorf("%s: read back: %v", name, err)
		}
	}
}
