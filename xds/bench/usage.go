package bench

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// cpuTime is the process's user + system CPU so far.
func cpuTime() (time.Duration, error) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// memory is what the process holds: the Go heap in use after a collection,
// and the resident set.
type memory struct {
	Heap, RSS uint64
}

// measureMemory collects and returns freed memory to the OS first, so that
// two measurements differ by what is live, not by garbage.
func measureMemory() (memory, error) {
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, err := readRSS("/proc/self/statm")
	return memory{Heap: ms.HeapInuse, RSS: rss}, err
}

// maxStatm bounds what is read of /proc/self/statm: seven numbers.
const maxStatm = 512

func readRSS(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxStatm+1))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	pages, err := parseStatm(b)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return pages * uint64(os.Getpagesize()), nil
}

// parseStatm returns the resident pages: the second of statm's fields.
func parseStatm(b []byte) (uint64, error) {
	if len(b) > maxStatm {
		return 0, fmt.Errorf("longer than %d bytes", maxStatm)
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, fmt.Errorf("%d fields, want at least 2 (size resident ...)", len(f))
	}
	n, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("field 2 (resident pages): %w", err)
	}
	return n, nil
}

// RaiseFileLimit raises the soft RLIMIT_NOFILE to need (each client holds
// two descriptors: its end of the connection and the server's) and returns
// the limit now in force. It fails if the hard limit is lower.
func RaiseFileLimit(need uint64) (uint64, error) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit NOFILE: %w", err)
	}
	if lim.Cur >= need {
		return lim.Cur, nil
	}
	if lim.Max < need {
		return lim.Cur, fmt.Errorf("RLIMIT_NOFILE: need %d descriptors, hard limit %d", need, lim.Max)
	}
	lim.Cur = need
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("setrlimit NOFILE %d: %w", need, err)
	}
	return need, nil
}
