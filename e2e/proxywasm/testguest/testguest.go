// Package testguest builds the proxy-wasm test guest (testdata/guest): a
// filter written against the raw ABI, without the SDK, whose behaviour each
// request chooses with flags in its x-test header (comma-separated):
//
//	request:  hpause (Pause in headers), callout (a callout to cluster "svc"
//	          at /resume; its answer resumes the request), dropcl (remove
//	          content-length), buffer (Pause in body callbacks until the end),
//	          hdr (set x-body-calls in every body callback), trace (at the end,
//	          replace the body with what the guest saw), setcl (then set the
//	          new content-length), local (at the end, answer 451 itself),
//	          seal (at the end, send the body to "svc" at /seal and replace it
//	          with the answer when it comes, then resume)
//	response: rhpause, rbuffer, rdropcl, rhdr (set x-guest, remove x-secret),
//	          rtrace, rlocal (answer 502 itself at the end)
//
// A trace lists the callbacks: H<eos> and B<size>:<eos> for the request
// (C for a callout answer, h<status> for a header change), R<status>:<eos>
// and b<size>:<eos> for the response.
package testguest

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	once  sync.Once
	built string
	err   error
)

// Build compiles the guest once per process (Go's build cache makes it
// quick after the first time) and returns the .wasm path. It skips the test
// when no Go toolchain is on PATH.
func Build(tb testing.TB) string {
	tb.Helper()
	goTool, lookErr := exec.LookPath("go")
	if lookErr != nil {
		tb.Skip("no go toolchain on PATH: cannot build the proxy-wasm test guest")
	}
	once.Do(func() { built, err = build(goTool) })
	if err != nil {
		tb.Fatal(err)
	}
	return built
}

func build(goTool string) (string, error) {
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "testdata", "guest")
	code, err := os.ReadFile(filepath.Join(src, "main.go"))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(append(code, runtime.Version()...))
	out := filepath.Join(os.TempDir(), "meshward-testguest-"+hex.EncodeToString(sum[:8])+".wasm")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	tmp := out + ".tmp" + hex.EncodeToString(sum[8:12])
	cmd := exec.Command(goTool, "build", "-buildmode=c-shared", "-o", tmp, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", &buildError{err: err, out: string(msg)}
	}
	return out, os.Rename(tmp, out)
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string {
	return "building the test guest: " + e.err.Error() + "\n" + e.out
}
