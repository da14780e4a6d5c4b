package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The DaemonSet in manifests/ runs the agent with flags it accepts, and in
// the mode that follows the node's pods.
func TestManifestDaemonSet(t *testing.T) {
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
		if doc.Kind == "DaemonSet" && doc.Metadata.Name == "meshward-ebpf-agent" {
			args = doc.Spec.Template.Spec.Containers[0].Args
		}
	}
	if len(args) == 0 || args[0] != "run" {
		t.Fatalf("DaemonSet args %q", args)
	}
	c := run()
	flags := strings.Fields(strings.ReplaceAll(strings.Join(args[1:], " "), "$(NODE_NAME)", "node-1"))
	if err := c.ParseFlags(flags); err != nil {
		t.Fatalf("ebpf-agent run %s: %v", strings.Join(flags, " "), err)
	}
	for name, want := range map[string]string{"in-cluster": "true", "node": "node-1", "profile-store": "/var/lib/meshward/profiles.db"} {
		if got := c.Flags().Lookup(name).Value.String(); got != want {
			t.Errorf("--%s = %q, want %q", name, got, want)
		}
	}
}
