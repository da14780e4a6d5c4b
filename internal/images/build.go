package images

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Components are meshward's control components and what their images say.
var Components = []Component{
	{Name: "extauthz", Description: "meshward's authorizer: ext_authz, the filter's checks, verdicts, EaaS"},
	{Name: "xds", Description: "meshward's moving-target xDS server"},
	{Name: "ebpf-agent", Description: "meshward's node agent: per-container syscall profiles and verdicts"},
}

// Built is one image written: where, its name and digest.
type Built struct {
	Layout string `json:"layout"`
	Ref    string `json:"ref"`
	Digest string `json:"digest"`
}

// Set is every image of a release.
type Set struct {
	BinDir   string // the static binaries, named as Components
	Wasm     string // the filter's module
	RootID   string // the filter's root id (the oci form names it)
	Out      string // one OCI layout per image is written under it
	Registry string // the repository prefix of the refs: ghcr.io/meshward
	Meta     Meta
}

// Build writes every image and an index of them (images.json), returning
// it by image name.
func (s Set) Build() (map[string]Built, error) {
	out := map[string]Built{}
	add := func(name string, img v1.Image) error {
		ref := fmt.Sprintf("%s/%s:%s", s.Registry, name, s.Meta.Version)
		dir := filepath.Join(s.Out, name)
		d, err := WriteLayout(dir, ref, img)
		if err != nil {
			return err
		}
		out[name] = Built{Layout: dir, Ref: ref, Digest: d.String()}
		return nil
	}
	for _, c := range Components {
		bin, err := os.ReadFile(filepath.Join(s.BinDir, c.Name))
		if err != nil {
			return nil, fmt.Errorf("images: %s's binary: %w", c.Name, err)
		}
		c.Binary = bin
		img, err := Image(c, s.Meta)
		if err != nil {
			return nil, err
		}
		if err := add(c.Name, img); err != nil {
			return nil, err
		}
	}
	module, err := os.ReadFile(s.Wasm)
	if err != nil {
		return nil, fmt.Errorf("images: the filter's module: %w", err)
	}
	compat, err := WasmCompat(module, s.Meta)
	if err != nil {
		return nil, err
	}
	if err := add("meshward-filter", compat); err != nil {
		return nil, err
	}
	art, err := WasmArtifact(module, []string{s.RootID}, s.Meta)
	if err != nil {
		return nil, err
	}
	if err := add("meshward-filter-oci", art); err != nil {
		return nil, err
	}
	return out, writeIndex(filepath.Join(s.Out, "images.json"), out)
}

func writeIndex(path string, built map[string]Built) error {
	b, err := json.MarshalIndent(built, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
