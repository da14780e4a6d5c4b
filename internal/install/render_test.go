package install

import (
	"errors"
	"strings"
	"testing"
)

// Every target renders with each container image and each oci:// url
// pinned to the digest images.json gives for it.
func TestRenderPinsEveryImage(t *testing.T) {
	imgs := fakeImages(t)
	for _, target := range Targets {
		t.Run(target, func(t *testing.T) {
			objs := render(t, target)
			var seen int
			for _, o := range objs {
				for _, img := range images(o) {
					seen++
					name := strings.TrimPrefix(strings.SplitN(img, "@", 2)[0], "registry.test/meshward/")
					if want := imgs[name].Pinned(); img != want {
						t.Errorf("%s: image %q, want %q", describe(o), img, want)
					}
				}
				walkStrings(o, func(s string) string {
					if strings.HasPrefix(s, "oci://") {
						seen++
						if want := "oci://" + imgs["meshward-filter"].Pinned(); s != want {
							t.Errorf("%s: url %q, want %q", describe(o), s, want)
						}
					}
					return s
				})
			}
			if seen == 0 {
				t.Fatal("no image in the rendered objects")
			}
		})
	}
}

// An images.json that lacks a component's image does not render: the
// output would pull that image by name from wherever the name resolves.
func TestRenderRefusesUnpinned(t *testing.T) {
	for _, tc := range []struct{ target, missing string }{
		{"overlays/minimal", "extauthz"},
		{"overlays/minimal", "xds"},
		{"overlays/ha", "ebpf-agent"},
		{"mesh/wasmplugin", "meshward-filter"},
		{"mesh/envoyfilter", "meshward-filter"},
	} {
		_, err := Render(manifests, tc.target, fakeImages(t, tc.missing))
		if err == nil || !strings.Contains(err.Error(), tc.missing) {
			t.Errorf("%s without %s: %v", tc.target, tc.missing, err)
		}
	}
	if _, err := Render(manifests, "overlays/minimal", nil); !errors.Is(err, ErrUnpinned) {
		t.Errorf("no images at all: %v", err)
	}
}

// CheckPinned finds an image by tag wherever a pod spec can hold one.
func TestCheckPinned(t *testing.T) {
	pin := "registry.test/x@" + fakeDigest("x")
	pod := func(list, img string) map[string]any {
		return map[string]any{list: []any{map[string]any{"name": "c", "image": img}}}
	}
	for _, tc := range []struct {
		name string
		obj  Object
		ok   bool
	}{
		{"deployment pinned", Object{"kind": "Deployment", "spec": map[string]any{"template": map[string]any{"spec": pod("containers", pin)}}}, true},
		{"deployment tag", Object{"kind": "Deployment", "spec": map[string]any{"template": map[string]any{"spec": pod("containers", "registry.test/x:1")}}}, false},
		{"init container tag", Object{"kind": "DaemonSet", "spec": map[string]any{"template": map[string]any{"spec": pod("initContainers", "x")}}}, false},
		{"pod tag", Object{"kind": "Pod", "spec": pod("containers", "x:latest")}, false},
		{"cronjob tag", Object{"kind": "CronJob", "spec": map[string]any{"jobTemplate": map[string]any{"spec": map[string]any{"template": map[string]any{"spec": pod("containers", "x")}}}}}, false},
		{"digest too short", Object{"kind": "Pod", "spec": pod("containers", "x@sha256:abc")}, false},
		{"oci tag", Object{"kind": "WasmPlugin", "spec": map[string]any{"url": "oci://registry.test/f:1"}}, false},
		{"oci pinned", Object{"kind": "WasmPlugin", "spec": map[string]any{"url": "oci://" + pin}}, true},
		{"oci in a list", Object{"kind": "EnvoyFilter", "spec": map[string]any{"p": []any{map[string]any{"uri": "oci://f"}}}}, false},
	} {
		err := CheckPinned([]Object{tc.obj})
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrUnpinned)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestRenderTargetMustStayInside(t *testing.T) {
	for _, target := range []string{"../manifests/base", "/etc", "", ".", "overlays/../../x", "overlays//ha"} {
		if _, err := Render(manifests, target, fakeImages(t)); err == nil || !strings.Contains(err.Error(), "target") {
			t.Errorf("target %q: %v", target, err)
		}
	}
}
