package main

import (
	"testing"

	"github.com/meshward/meshward/internal/install"
)

// renderArgs renders target of manifests/ with placeholder digests and
// returns the first container's args of the object of kind and name.
func renderArgs(t *testing.T, target, kind, name string) []string {
	t.Helper()
	args, err := install.ArgsIn("../../../manifests", target, kind, name)
	if err != nil {
		t.Fatal(err)
	}
	return args
}

// The authorizer's Deployment of each overlay runs it with flags it
// accepts, over mutual TLS with the mesh CA and never in the insecure dev
// mode.
func TestManifestDeployment(t *testing.T) {
	for _, target := range []string{"overlays/minimal", "overlays/ha"} {
		args := renderArgs(t, target, "Deployment", "meshward-authz")
		if len(args) == 0 || args[0] != "serve" {
			t.Fatalf("%s: Deployment args %q", target, args)
		}
		c := serve()
		if err := c.ParseFlags(args[1:]); err != nil {
			t.Fatalf("%s: extauthz serve %q: %v", target, args[1:], err)
		}
		for _, name := range []string{"tls-cert", "tls-key", "client-ca", "workloads"} {
			if c.Flags().Lookup(name).Value.String() == "" {
				t.Errorf("%s: --%s is not set: checks would not know their caller", target, name)
			}
		}
		if c.Flags().Lookup("insecure-plaintext-checks").Value.String() != "false" {
			t.Errorf("%s: the manifest runs the insecure dev mode", target)
		}
	}
}
