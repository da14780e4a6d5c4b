package manifest

import (
	"strings"
	"testing"
)

func TestArgs(t *testing.T) {
	args, err := Args("../../manifests/meshward.yaml", "Deployment", "meshward-authz")
	if err != nil || len(args) == 0 || args[0] != "serve" {
		t.Fatalf("authorizer args %q, %v", args, err)
	}
	if _, err := Args("../../manifests/meshward.yaml", "Deployment", "nothing"); err == nil || !strings.Contains(err.Error(), `no Deployment "nothing"`) {
		t.Fatalf("missing object: %v", err)
	}
}
