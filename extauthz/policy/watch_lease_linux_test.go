package policy

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// leasesWork asks the kernel itself (not leaseState, which the tests check)
// whether dir's filesystem refuses a read lease on a file open for writing.
func leasesWork(t *testing.T, dir string) bool {
	t.Helper()
	name := filepath.Join(dir, ".lease-probe")
	wf, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(name)
	defer wf.Close()
	rf, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer rf.Close()
	_, err = unix.FcntlInt(rf.Fd(), unix.F_SETLEASE, unix.F_RDLCK)
	return errors.Is(err, unix.EAGAIN)
}
