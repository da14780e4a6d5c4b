package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// xdsChildEnv names the one test a child process runs.
const xdsChildEnv = "MESHWARD_E2E_XDS_TEST"

// inOwnProcess runs the calling test in a child process of its own, with a
// bootstrap path of its own, and reports true in the parent, whose part is
// then done. grpc-go reads its xDS bootstrap once per process, so two tests
// with xDS servers of their own cannot share a process.
func inOwnProcess(t *testing.T) bool {
	t.Helper()
	if os.Getenv(xdsChildEnv) == t.Name() {
		return false
	}
	args := []string{"-test.run=^" + regexp.QuoteMeta(t.Name()) + "$", "-test.count=1", "-test.v"}
	if d, ok := t.Deadline(); ok {
		// The child times out first, so a hang there ends with its own
		// goroutines in the output below rather than with the parent's,
		// which only show it waiting.
		args = append(args, "-test.timeout="+(time.Until(d)*9/10).Round(time.Second).String())
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), xdsChildEnv+"="+t.Name(), bootstrapEnv+"="+filepath.Join(t.TempDir(), "xds-bootstrap.json"))
	out, err := cmd.CombinedOutput()
	t.Logf("child process:\n%s", out)
	if err != nil {
		t.Fatalf("%s in its own process: %v", t.Name(), err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s did not pass in its own process", t.Name())
	}
	return true
}
