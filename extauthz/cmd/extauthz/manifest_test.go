package main

import (
	"testing"

	"github.com/meshward/meshward/internal/manifest"
)

// The authorizer's Deployment in manifests/ runs it with flags it accepts,
// over mutual TLS with the mesh CA and never in the insecure dev mode.
func TestManifestDeployment(t *testing.T) {
	args, err := manifest.Args("../../../manifests/meshward.yaml", "Deployment", "meshward-authz")
	if err != nil {
		t.Fatal(err)
	}
	if len(args) == 0 || args[0] != "serve" {
		t.Fatalf("Deployment args %q", args)
	}
	c := serve()
	if err := c.ParseFlags(args[1:]); err != nil {
		t.Fatalf("extauthz serve %q: %v", args[1:], err)
	}
	for _, name := range []string{"tls-cert", "tls-key", "client-ca", "workloads"} {
		if c.Flags().Lookup(name).Value.String() == "" {
			t.Errorf("--%s is not set: checks would not know their caller", name)
		}
	}
	if c.Flags().Lookup("insecure-plaintext-checks").Value.String() != "false" {
		t.Error("the manifest runs the insecure dev mode")
	}
}
