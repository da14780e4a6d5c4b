package install

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseImages(t *testing.T) {
	d := fakeDigest("x")
	for _, tc := range []struct{ name, json, err string }{
		{"ok", `{"xds": {"ref": "registry.test/m/xds:0.1.0", "digest": "` + d + `", "layout": "/x"}}`, ""},
		{"ref by digest", `{"xds": {"ref": "registry.test/m/xds@` + d + `", "digest": "` + d + `"}}`, ""},
		{"other digest in ref", `{"xds": {"ref": "registry.test/m/xds@` + fakeDigest("xy") + `", "digest": "` + d + `"}}`, "another digest"},
		{"upper-case digest", `{"xds": {"ref": "registry.test/m/xds:1", "digest": "` + strings.ToUpper(d) + `"}}`, "not sha256"},
		{"short digest", `{"xds": {"ref": "registry.test/m/xds:1", "digest": "sha256:abcd"}}`, "not sha256"},
		{"sha512", `{"xds": {"ref": "registry.test/m/xds:1", "digest": "sha512:` + strings.Repeat("a", 128) + `"}}`, "not sha256"},
		{"no digest", `{"xds": {"ref": "registry.test/m/xds:1"}}`, "not sha256"},
		{"no ref", `{"xds": {"digest": "` + d + `"}}`, "xds: ref"},
		{"ref with spaces", `{"xds": {"ref": "registry.test/m/x ds:1", "digest": "` + d + `"}}`, "xds: ref"},
		{"name with a slash", `{"../xds": {"ref": "registry.test/m/xds:1", "digest": "` + d + `"}}`, "image name"},
		{"not an object", `[1, 2]`, "images.json"},
		{"entry not an object", `{"xds": "registry.test/m/xds:1"}`, "images.json"},
		{"not JSON", `{"xds": `, "images.json"},
	} {
		_, err := ParseImages("images.json", []byte(tc.json))
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
	if _, err := ParseImages("big.json", make([]byte, maxIndex+1)); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("oversized: %v", err)
	}
}

func TestLoadImages(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "images.json")
	if err := os.WriteFile(p, []byte(`{"xds": {"ref": "registry.test/m/xds:1", "digest": "`+fakeDigest("x")+`"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	imgs, err := LoadImages(p)
	if err != nil || imgs["xds"].Pinned() != "registry.test/m/xds@"+fakeDigest("x") {
		t.Fatalf("%v %v", imgs, err)
	}
	if err := os.Truncate(p, maxIndex+1); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadImages(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("oversized file: %v", err)
	}
}

// FuzzParseImages: any input parses or fails with an error; what parses
// pins to a well-formed digest.
func FuzzParseImages(f *testing.F) {
	f.Add([]byte(`{"xds": {"ref": "registry.test/m/xds:0.1.0", "digest": "` + fakeDigest("x") + `"}}`))
	f.Add([]byte(`{"a": {"ref": "r.test/a@` + fakeDigest("a") + `", "digest": "` + fakeDigest("a") + `"}}`))
	f.Add([]byte(`{"": {}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		imgs, err := ParseImages("fuzz.json", data)
		if err != nil {
			return
		}
		for k, img := range imgs {
			if !pinned(img.Pinned()) || strings.ContainsAny(img.Pinned(), " \n\t") {
				t.Fatalf("%q pins to %q", k, img.Pinned())
			}
		}
	})
}
