package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"gopkg.in/yaml.v3"
)

// The authorizer's Deployment in manifests/ runs it with flags it accepts,
// over mutual TLS with the mesh CA and never in the insecure dev mode.
func TestManifestDeployment(t *testing.T) {
	b, err := os.ReadFile("../../../manifests/meshward.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var args []string
	for {
		var doc struct {
			Kind     string
			Metadata struct{ Name string }
			Spec     struct {
				Template struct {
					Spec struct {
						Containers []struct{ Args []string }
					}
				}
			}
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if doc.Kind == "Deployment" && doc.Metadata.Name == "meshward-authz" {
			args = doc.Spec.Template.Spec.Containers[0].Args
		}
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
