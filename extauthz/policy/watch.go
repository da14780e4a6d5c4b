package policy

import (
	"context"
	"crypto/sha256"
	"io"
	"os"
	"time"
)

// Watcher reloads a policy set when the files under its paths change. A
// reload is all or nothing: a set with any invalid file is rejected (with
// every error, file:line: reason) and the previous set stays active.
type Watcher struct {
	paths    []string
	interval time.Duration
	last     [sha256.Size]byte
	seen     [sha256.Size]byte // what the previous poll saw
	// Hooks, called from Check's goroutine.
	OnApply  func(*Set)
	OnReject func(error)
}

// NewWatcher watches paths, polling every interval. Polling (not inotify)
// also sees Kubernetes ConfigMap updates, which swap a symlink.
func NewWatcher(interval time.Duration, paths ...string) *Watcher {
	return &Watcher{paths: paths, interval: interval}
}

// Load reads the set once and remembers what it read, so that Run reloads
// only on a change.
func (w *Watcher) Load() (*Set, error) {
	sum, err := w.fingerprint()
	if err != nil {
		return nil, err
	}
	set, err := Load(w.paths...)
	if err != nil {
		return nil, err
	}
	w.last = sum
	return set, nil
}

// Check reloads if anything changed since the last load or rejection. It
// reports whether it applied a new set.
func (w *Watcher) Check() (bool, error) {
	sum, err := w.fingerprint()
	if err != nil {
		w.reject(err)
		return false, err
	}
	if sum == w.last {
		return false, nil
	}
	w.last = sum // a rejected version is not retried until it changes again
	set, err := Load(w.paths...)
	if err != nil {
		w.reject(err)
		return false, err
	}
	if w.OnApply != nil {
		w.OnApply(set)
	}
	return true, nil
}

func (w *Watcher) reject(err error) {
	if w.OnReject != nil {
		w.OnReject(err)
	}
}

// Run polls until ctx ends. A change is checked once two polls in a row saw
// it: a file caught halfway through a write (truncated, then written, as
// most editors and os.WriteFile do) is never applied, even when it would be
// valid (an empty file is: no policies).
func (w *Watcher) Run(ctx context.Context) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if w.settled() {
				_, _ = w.Check()
			}
		}
	}
}

// settled reports whether the files are as the previous poll saw them (or
// cannot be read: Check reports that).
func (w *Watcher) settled() bool {
	sum, err := w.fingerprint()
	if err != nil {
		return true
	}
	same := sum == w.seen
	w.seen = sum
	return same
}

// fingerprint hashes the names and contents of every policy file.
func (w *Watcher) fingerprint() ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	files, err := expand(w.paths)
	if err != nil {
		return sum, err
	}
	h := sha256.New()
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return sum, err
		}
		_, _ = io.WriteString(h, f+"\x00")
		_, err = io.Copy(h, fh)
		fh.Close()
		if err != nil {
			return sum, err
		}
		_, _ = h.Write([]byte{0})
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}
