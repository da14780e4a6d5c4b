package policy

import (
	"crypto/sha256"
	"errors"
	"sync"
	"time"
)

// DefaultSettle is how long files written in place must stay unchanged
// before they are applied. Writers that keep a file open while writing it
// (cp, editors saving in place, os.WriteFile) are held back for as long as
// they write by the read-lease probe where the kernel offers one; the settle
// time covers writers that reopen the file between writes (a script's
// `echo >> p.yaml` lines, milliseconds apart even on a loaded machine) and
// filesystems without leases. One second is a thousand times such a gap and
// about the latency the one-second poll had before.
const DefaultSettle = time.Second

// Watcher reloads a policy set when the files under its paths change. A
// reload is all or nothing: a set with any invalid file is rejected (with
// every error, file:line: reason) and the previous set stays active.
//
// Run watches the directories (inotify through fsnotify) and polls every
// interval as a safety net. A file moved into place by a rename, and a
// Kubernetes ConfigMap or Secret volume whose ..data link kubelet swaps, is
// applied at once; a file written in place is applied once it has been left
// alone for Settle and no process holds it open for writing. A version is
// read whole or not at all: files open for writing, or that change or move
// while they are read, make the reader try again later.
type Watcher struct {
	// Settle is how long an in-place change must rest before it is applied
	// (DefaultSettle if zero). Set it before Run.
	Settle time.Duration
	// Hooks, called from the goroutine of Check or Run, one at a time.
	OnApply  func(*Set)
	OnReject func(error)

	paths    []string
	interval time.Duration
	// reading lets one read-and-apply run at a time, so that an older read
	// is never applied after a newer one (Check beside Run).
	reading sync.Mutex
	mu      sync.Mutex
	last    [sha256.Size]byte // of the last version applied or rejected
}

// NewWatcher watches paths; Run also polls them every interval (a second
// if interval is not positive) in case the filesystem misses events.
func NewWatcher(interval time.Duration, paths ...string) *Watcher {
	if interval <= 0 {
		interval = time.Second
	}
	return &Watcher{paths: paths, interval: interval}
}

// Load reads the set once and remembers what it read, so that Run reloads
// only on a change. Files still being written are an error, not a set.
func (w *Watcher) Load() (*Set, error) {
	w.reading.Lock()
	defer w.reading.Unlock()
	snap, err := takeSnapshot(w.paths)
	for try := 0; try < 3 && errors.Is(err, errMoved); try++ {
		snap, err = takeSnapshot(w.paths) // a rename or swap completed: read the result
	}
	if err != nil {
		return nil, err
	}
	set, err := snap.build()
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.last = snap.sum
	w.mu.Unlock()
	return set, nil
}

// Check reloads now if anything changed since the last load or rejection,
// without waiting for files to settle. It reports whether it applied a new
// set; files caught while being written are an error wrapping ErrUnsettled
// and are neither applied nor rejected.
func (w *Watcher) Check() (bool, error) {
	w.reading.Lock()
	defer w.reading.Unlock()
	snap, err := takeSnapshot(w.paths)
	if errors.Is(err, ErrUnsettled) {
		return false, err
	}
	return w.consider(snap, err)
}

// consider applies or rejects a version that differs from the last one.
func (w *Watcher) consider(snap *snapshot, readErr error) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	sum := versionSum(snap, readErr)
	if sum == w.last {
		return false, readErr // a rejected version is not retried until it changes
	}
	w.last = sum
	if readErr != nil {
		w.reject(readErr)
		return false, readErr
	}
	set, err := snap.build()
	if err != nil {
		w.reject(err)
		return false, err
	}
	if w.OnApply != nil {
		w.OnApply(set)
	}
	return true, nil
}

// isLast reports whether a version is the one last applied or rejected.
func (w *Watcher) isLast(sum [sha256.Size]byte) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return sum == w.last
}

func (w *Watcher) reject(err error) {
	if w.OnReject != nil {
		w.OnReject(err)
	}
}

func (w *Watcher) settle() time.Duration {
	if w.Settle > 0 {
		return w.Settle
	}
	return DefaultSettle
}
