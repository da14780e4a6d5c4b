package install

import (
	"encoding/json"
	"fmt"
	"strings"
)

// pinFilter replaces FilterURL in the WasmPlugins and EnvoyFilters with
// the filter image's pinned url.
func pinFilter(objs []Object, imgs Images) error {
	img, ok := imgs[filterImage]
	pinned := "oci://" + img.Pinned()
	for _, o := range objs {
		if k := o["kind"]; k != "WasmPlugin" && k != "EnvoyFilter" {
			continue
		}
		var missing bool
		o["spec"] = walkStrings(o["spec"], func(s string) string {
			if s != FilterURL {
				return s
			}
			if !ok {
				missing = true
				return s
			}
			return pinned
		})
		if missing {
			return fmt.Errorf("%s: no %q image in images.json for %s", describe(o), filterImage, FilterURL)
		}
	}
	return nil
}

// walkStrings returns v with every string value replaced by f's answer.
func walkStrings(v any, f func(string) string) any {
	switch t := v.(type) {
	case string:
		return f(t)
	case map[string]any:
		for k, e := range t {
			t[k] = walkStrings(e, f)
		}
	case []any:
		for i, e := range t {
			t[i] = walkStrings(e, f)
		}
	}
	return v
}

// CheckPinned fails on the first container image or oci:// url that is not
// pinned to a sha256 digest.
func CheckPinned(objs []Object) error {
	for _, o := range objs {
		for _, img := range images(o) {
			if !pinned(img) {
				return fmt.Errorf("%s: container image %q: %w", describe(o), img, ErrUnpinned)
			}
		}
		var bad string
		walkStrings(o, func(s string) string {
			if strings.HasPrefix(s, "oci://") && !pinned(strings.TrimPrefix(s, "oci://")) && bad == "" {
				bad = s
			}
			return s
		})
		if bad != "" {
			return fmt.Errorf("%s: url %q: %w", describe(o), bad, ErrUnpinned)
		}
	}
	return nil
}

func pinned(ref string) bool {
	i := strings.LastIndex(ref, "@")
	return i > 0 && digestRE.MatchString(ref[i+1:])
}

// images lists the images of o's pod template (or of o, a Pod).
func images(o Object) []string {
	spec, _ := o["spec"].(map[string]any)
	if o["kind"] != "Pod" {
		if tmpl, ok := spec["template"].(map[string]any); ok {
			spec, _ = tmpl["spec"].(map[string]any)
		} else if jt, ok := spec["jobTemplate"].(map[string]any); ok {
			js, _ := jt["spec"].(map[string]any)
			tmpl, _ := js["template"].(map[string]any)
			spec, _ = tmpl["spec"].(map[string]any)
		}
	}
	var out []string
	for _, list := range []string{"initContainers", "containers", "ephemeralContainers"} {
		cs, _ := spec[list].([]any)
		for _, c := range cs {
			m, _ := c.(map[string]any)
			img, _ := m["image"].(string)
			out = append(out, img)
		}
	}
	return out
}

func describe(o Object) string {
	md, _ := o["metadata"].(map[string]any)
	ns, _ := md["namespace"].(string)
	n, _ := md["name"].(string)
	if ns != "" {
		n = ns + "/" + n
	}
	return fmt.Sprintf("%v %s", o["kind"], n)
}

// Args returns the args of the first container of the object of kind and
// name, so that each command's tests check the shipped flags against its
// own.
func Args(objs []Object, kind, name string) ([]string, error) {
	for _, o := range objs {
		md, _ := o["metadata"].(map[string]any)
		if o["kind"] != kind || md["name"] != name {
			continue
		}
		spec, _ := o["spec"].(map[string]any)
		tmpl, _ := spec["template"].(map[string]any)
		ps, _ := tmpl["spec"].(map[string]any)
		cs, _ := ps["containers"].([]any)
		if len(cs) == 0 {
			return nil, fmt.Errorf("%s %s: no containers", kind, name)
		}
		c, _ := cs[0].(map[string]any)
		raw, _ := c["args"].([]any)
		args := make([]string, 0, len(raw))
		for _, a := range raw {
			s, ok := a.(string)
			if !ok {
				return nil, fmt.Errorf("%s %s: arg %v is not a string", kind, name, a)
			}
			args = append(args, s)
		}
		return args, nil
	}
	return nil, fmt.Errorf("no %s %q", kind, name)
}

// Placeholders pins each of names to an all-zero digest under registry:
// enough to render the manifests for review or for a test of their flags
// without a build.
func Placeholders(registry string, names ...string) (Images, error) {
	entries := map[string]Image{}
	for _, n := range names {
		entries[n] = Image{Ref: registry + "/" + n + ":0", Digest: "sha256:" + strings.Repeat("0", 64)}
	}
	b, err := json.Marshal(entries)
	if err != nil {
		return nil, err
	}
	return ParseImages("placeholders", b)
}

// ArgsIn renders target of the manifests in dir with placeholder images and
// returns the args of the first container of the object of kind and name.
func ArgsIn(dir, target, kind, name string) ([]string, error) {
	imgs, err := Placeholders("registry.test", "extauthz", "xds", "ebpf-agent", "meshward-filter")
	if err != nil {
		return nil, err
	}
	objs, err := Render(dir, target, imgs)
	if err != nil {
		return nil, err
	}
	return Args(objs, kind, name)
}
