// Command meshward-images writes meshward's OCI images (`make images`): the
// control components from their static binaries and the Wasm filter in both
// forms Istio's WasmPlugin pulls, one OCI layout each, and images.json with
// their digests.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/meshward/meshward/internal/images"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "meshward-images:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("meshward-images", flag.ContinueOnError)
	var s images.Set
	var created int64
	fs.StringVar(&s.BinDir, "bin", "build/static", "directory of the static binaries (extauthz, xds, ebpf-agent)")
	fs.StringVar(&s.Wasm, "wasm", "build/meshward-filter.wasm", "the filter's module")
	fs.StringVar(&s.RootID, "root-id", "meshward", "the filter's root id")
	fs.StringVar(&s.Out, "out", "build/images", "where the OCI layouts go")
	fs.StringVar(&s.Registry, "registry", "ghcr.io/meshward", "repository prefix of the images' names")
	fs.StringVar(&s.Meta.Version, "version", "0.1.0", "the images' tag and version label")
	fs.StringVar(&s.Meta.Revision, "revision", "", "the source commit (git rev-parse HEAD)")
	fs.StringVar(&s.Meta.Source, "source", "https://github.com/meshward/meshward", "the source repository")
	fs.Int64Var(&created, "created", 0, "creation time, Unix seconds: the commit's (git log -1 --format=%ct), so digests do not change between builds")
	fs.StringVar(&s.Meta.Arch, "arch", runtime.GOARCH, "the binaries' architecture")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if s.Meta.Revision == "" || created <= 0 {
		return fmt.Errorf("-revision and -created are needed (the commit and its time: the digests depend on them)")
	}
	s.Meta.Created = time.Unix(created, 0).UTC()
	built, err := s.Build()
	if err != nil {
		return err
	}
	for _, name := range []string{"extauthz", "xds", "ebpf-agent", "meshward-filter", "meshward-filter-oci"} {
		b := built[name]
		fmt.Printf("%-20s %s@%s  (%s)\n", name, b.Ref, b.Digest, b.Layout)
	}
	fmt.Println("index: " + s.Out + "/images.json; created " + strconv.FormatInt(created, 10))
	return nil
}
