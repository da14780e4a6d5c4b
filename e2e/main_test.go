package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/meshward/meshward/e2e/system"
)

// bootstrapEnv is where grpc-go's xDS client finds its bootstrap. grpc-go
// reads the variable once, when the process starts, so TestMain re-executes
// the test binary with it set; the xDS test writes the file before it dials.
const bootstrapEnv = system.BootstrapEnv

func TestMain(m *testing.M) {
	if os.Getenv(bootstrapEnv) != "" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "meshward-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), bootstrapEnv+"="+filepath.Join(dir, "xds-bootstrap.json"))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	os.RemoveAll(dir)
	if ee, ok := err.(*exec.ExitError); ok {
		os.Exit(ee.ExitCode())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
