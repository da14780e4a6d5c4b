// Command meshward-install renders an install of meshward from manifests/
// with every image pinned to the digest `make images` built:
//
//	meshward-install -images build/images/images.json -target overlays/ha > meshward.yaml
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"sigs.k8s.io/yaml"

	"github.com/meshward/meshward/internal/install"
)

func main() {
	dir := flag.String("manifests", "manifests", "the manifests directory")
	index := flag.String("images", "build/images/images.json", "images.json of `make images`")
	target := flag.String("target", "overlays/minimal", fmt.Sprintf("what to render: one of %v", install.Targets))
	flag.Parse()
	if err := run(os.Stdout, *dir, *index, *target); err != nil {
		fmt.Fprintln(os.Stderr, "meshward-install:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, dir, index, target string) error {
	imgs, err := install.LoadImages(index)
	if err != nil {
		return err
	}
	objs, err := install.Render(dir, target, imgs)
	if err != nil {
		return err
	}
	for _, o := range objs {
		b, err := yaml.Marshal(o)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "---\n%s", b); err != nil {
			return err
		}
	}
	return nil
}
