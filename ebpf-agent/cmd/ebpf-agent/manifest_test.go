package main

import (
	"strings"
	"testing"

	"github.com/meshward/meshward/internal/install"
)

// The DaemonSet of each overlay runs the agent with flags it accepts, and
// in the mode that follows the node's pods.
func TestManifestDaemonSet(t *testing.T) {
	for _, target := range []string{"overlays/minimal", "overlays/ha"} {
		args, err := install.ArgsIn("../../../manifests", target, "DaemonSet", "meshward-ebpf-agent")
		if err != nil {
			t.Fatal(err)
		}
		if len(args) == 0 || args[0] != "run" {
			t.Fatalf("%s: DaemonSet args %q", target, args)
		}
		c := run()
		flags := strings.Fields(strings.ReplaceAll(strings.Join(args[1:], " "), "$(NODE_NAME)", "node-1"))
		if err := c.ParseFlags(flags); err != nil {
			t.Fatalf("%s: ebpf-agent run %s: %v", target, strings.Join(flags, " "), err)
		}
		for name, want := range map[string]string{"in-cluster": "true", "node": "node-1", "profile-store": "/var/lib/meshward/profiles/profiles.db"} {
			if got := c.Flags().Lookup(name).Value.String(); got != want {
				t.Errorf("%s: --%s = %q, want %q", target, name, got, want)
			}
		}
	}
}
