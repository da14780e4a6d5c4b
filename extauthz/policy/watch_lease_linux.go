package policy

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// readFlags open policy files without blocking on a FIFO planted under a
// policy name, or on another process's write lease.
const readFlags = os.O_RDONLY | unix.O_NONBLOCK

type lease int

const (
	leaseUnknown lease = iota // the kernel cannot tell: rely on the settle time
	leaseHeld                 // nobody has the file open for writing, and cannot open it until dropLease
	leaseBusy                 // a process has the file open for writing
)

// leaseState takes a read lease on f. Linux grants one only while no
// process has the file open for writing (fs/locks.c), which is how the
// watcher knows that a writer pausing between chunks is not done. Leases
// need the file's owner or CAP_LEASE and a local filesystem; elsewhere the
// answer is leaseUnknown.
func leaseState(f *os.File) lease {
	raw, err := f.SyscallConn()
	if err != nil {
		return leaseUnknown
	}
	var lerr error
	if err := raw.Control(func(fd uintptr) { _, lerr = unix.FcntlInt(fd, unix.F_SETLEASE, unix.F_RDLCK) }); err != nil {
		return leaseUnknown
	}
	switch {
	case lerr == nil:
		return leaseHeld
	case errors.Is(lerr, unix.EAGAIN):
		return leaseBusy
	}
	return leaseUnknown
}

func dropLease(f *os.File) {
	if raw, err := f.SyscallConn(); err == nil {
		_ = raw.Control(func(fd uintptr) { _, _ = unix.FcntlInt(fd, unix.F_SETLEASE, unix.F_UNLCK) })
	}
}
