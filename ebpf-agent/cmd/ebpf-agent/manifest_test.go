package main

import (
	"strings"
	"testing"

	"github.com/meshward/meshward/internal/manifest"
)

// The DaemonSet in manifests/ runs the agent with flags it accepts, and in
// the mode that follows the node's pods.
func TestManifestDaemonSet(t *testing.T) {
	args, err := manifest.Args("../../../manifests/meshward.yaml", "DaemonSet", "meshward-ebpf-agent")
	if err != nil {
		t.Fatal(err)
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
