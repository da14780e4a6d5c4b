package install

import (
	"fmt"
	"strings"
	"testing"
)

const manifests = "../../manifests"

// fakeDigest is a digest no build makes, different per image.
func fakeDigest(name string) string {
	return "sha256:" + strings.Repeat(fmt.Sprintf("%x", len(name)%16), 64)
}

// fakeImages is an images.json as `make images` writes it.
func fakeImages(t *testing.T, skip ...string) Images {
	t.Helper()
	var b strings.Builder
	b.WriteString("{")
	first := true
	for _, n := range []string{"extauthz", "xds", "ebpf-agent", "meshward-filter", "meshward-filter-oci"} {
		if contains(skip, n) {
			continue
		}
		if !first {
			b.WriteString(",")
		}
		first = false
		fmt.Fprintf(&b, `%q: {"layout": "/tmp/x/%s", "ref": "registry.test/meshward/%s:0.1.0", "digest": %q}`, n, n, n, fakeDigest(n))
	}
	b.WriteString("}")
	imgs, err := ParseImages("images.json", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return imgs
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func render(t *testing.T, target string) []Object {
	t.Helper()
	objs, err := Render(manifests, target, fakeImages(t))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func find(objs []Object, kind, name string) Object {
	for _, o := range objs {
		md, _ := o["metadata"].(map[string]any)
		if o["kind"] == kind && md["name"] == name {
			return o
		}
	}
	return nil
}

// get follows keys (strings) and indices (ints) through o.
func get(o any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := o.(map[string]any)
			o = m[k]
		case int:
			l, _ := o.([]any)
			if k >= len(l) {
				return nil
			}
			o = l[k]
		}
	}
	return o
}
