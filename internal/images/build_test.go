package images

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// A release's images are written as OCI layouts whose digests images.json
// gives; a second build of the same inputs writes the same digests.
func TestSetBuild(t *testing.T) {
	bin := t.TempDir()
	for _, c := range Components {
		if err := os.WriteFile(filepath.Join(bin, c.Name), []byte("binary of "+c.Name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	wasm := filepath.Join(bin, "f.wasm")
	if err := os.WriteFile(wasm, []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func() map[string]Built {
		s := Set{BinDir: bin, Wasm: wasm, RootID: "meshward", Out: t.TempDir(), Registry: "example.test/meshward", Meta: meta}
		got, err := s.Build()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(filepath.Join(s.Out, "images.json"))
		if err != nil {
			t.Fatal(err)
		}
		var index map[string]Built
		if err := json.Unmarshal(raw, &index); err != nil || len(index) != 5 {
			t.Fatalf("images.json: %v %s", err, raw)
		}
		for name, b := range index {
			img, ref, err := ReadLayout(b.Layout)
			if err != nil {
				t.Fatal(err)
			}
			d, _ := img.Digest()
			if d.String() != b.Digest || ref != "example.test/meshward/"+name+":0.1.0" {
				t.Errorf("%s: layout holds %s %q, index says %s %q", name, d, ref, b.Digest, b.Ref)
			}
		}
		return got
	}
	first, second := build(), build()
	for name, b := range first {
		if second[name].Digest != b.Digest {
			t.Errorf("%s: %s then %s", name, b.Digest, second[name].Digest)
		}
	}
	if err := os.Remove(filepath.Join(bin, "xds")); err != nil {
		t.Fatal(err)
	}
	if _, err := (Set{BinDir: bin, Wasm: wasm, Out: t.TempDir(), Meta: meta}).Build(); err == nil {
		t.Error("a missing binary was not an error")
	}
}
