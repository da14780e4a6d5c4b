package main

import (
	"strings"
	"testing"

	"github.com/meshward/meshward/internal/install"
)

// The xDS server's Deployment of each overlay runs it with flags it
// accepts, its admin API on the pod's loopback behind a token.
func TestManifestDeployment(t *testing.T) {
	for _, target := range []string{"overlays/minimal", "overlays/ha"} {
		args, err := install.ArgsIn("../../../manifests", target, "Deployment", "meshward-xds")
		if err != nil {
			t.Fatal(err)
		}
		c := serve()
		if err := c.ParseFlags(args); err != nil {
			t.Fatalf("%s: xds %q: %v", target, args, err)
		}
		fl := c.Flags()
		if fl.Lookup("catalog").Value.String() == "" || fl.Lookup("admin-token-file").Value.String() == "" {
			t.Errorf("%s: no catalog or admin token: %q", target, args)
		}
		if a := fl.Lookup("admin-addr").Value.String(); !strings.HasPrefix(a, "127.0.0.1:") {
			t.Errorf("%s: the admin API listens on %s", target, a)
		}
	}
}
