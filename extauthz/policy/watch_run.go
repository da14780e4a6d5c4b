package policy

import (
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Run watches and polls until ctx ends, applying changes through the hooks.
// Without inotify (fsnotify cannot start) it polls only.
func (w *Watcher) Run(ctx context.Context) { w.start().loop(ctx) }

// Start sets up the watches, so that every change made after it returns is
// seen as it happens, and then runs the watcher in a goroutine until ctx
// ends.
func (w *Watcher) Start(ctx context.Context) { go w.start().loop(ctx) }

func (w *Watcher) start() *runner {
	r := &runner{w: w, roots: cleanPaths(w.paths), timer: time.NewTimer(time.Hour)}
	r.timer.Stop()
	if fsw, err := fsnotify.NewWatcher(); err == nil {
		r.fsw = fsw
	}
	r.rewatch()
	r.poll() // a change between Load and the watches is seen at once, and settles
	return r
}

func (r *runner) loop(ctx context.Context) {
	var events <-chan fsnotify.Event
	var errs <-chan error
	if r.fsw != nil {
		defer r.fsw.Close()
		events, errs = r.fsw.Events, r.fsw.Errors
	}
	poll := time.NewTicker(r.w.interval)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			r.event(ev)
		case _, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			r.rewatch() // an overflow lost events: treat it as a change
			r.touch(false)
		case <-poll.C:
			r.poll()
		case <-r.timer.C:
			r.attempt(true)
		}
	}
}

// runner is Run's state. A change noticed by an event on a file written in
// place, or by a poll, is due Settle after it was last seen changing; a
// rename into place or a ..data swap is tried at once unless an in-place
// change is still settling (it is then part of that change).
type runner struct {
	w        *Watcher
	fsw      *fsnotify.Watcher
	roots    []string
	prev     fsnotify.Event
	timer    *time.Timer
	settling bool // an event reported an in-place change that is settling
	byPoll   bool // a poll noticed the pending change
	polled   [sha256.Size]byte
}

func (r *runner) event(ev fsnotify.Event) {
	c := classify(ev, r.prev, r.roots, isAtomicDir)
	r.prev = ev
	if c != ignored && ev.Has(fsnotify.Create) {
		r.rewatch() // a new directory, or a root made again
	}
	switch {
	case c == inPlace:
		r.touch(false)
	case c == moved && !r.settling:
		r.attempt(false)
	}
}

// touch notes a change that must settle before it is applied.
func (r *runner) touch(byPoll bool) {
	r.settling = r.settling || !byPoll
	r.byPoll = r.byPoll || byPoll
	r.wait()
}

// wait (re)starts the settle time.
func (r *runner) wait() {
	r.timer.Reset(r.w.settle())
}

// poll notices changes that no event reported (network filesystems, symlinks
// to files elsewhere). Only a version different from the previous poll's
// counts, so that a settling change is not pushed back by every poll.
func (r *runner) poll() {
	snap, err := takeSnapshot(r.w.paths)
	sum := versionSum(snap, err)
	if sum == r.polled {
		return
	}
	r.polled = sum
	if !r.w.isLast(sum) {
		r.touch(true)
	}
}

// attempt reads the files and applies or rejects them. Files being written,
// or changing under the read, wait for another settle time; so does a read
// error while a rename or swap is under way (settled is false), which is
// reported only once things have settled. A change a poll noticed must
// still read as that poll saw it.
func (r *runner) attempt(settled bool) {
	r.w.reading.Lock()
	defer r.w.reading.Unlock()
	snap, err := takeSnapshot(r.w.paths)
	sum := versionSum(snap, err)
	switch {
	case errors.Is(err, ErrUnsettled), err != nil && !settled:
		r.wait()
		return
	case settled && r.byPoll && sum != r.polled:
		r.polled = sum
		r.wait()
		return
	}
	r.w.consider(snap, err)
	r.polled = sum
	r.settling, r.byPoll = false, false
	r.timer.Stop()
}

// rewatch watches each root's parent (to see the root itself deleted, made
// again or renamed over) and every directory below a root, except hidden
// ones (a ConfigMap's ..2026_* data directories, an editor's temporaries):
// for a ConfigMap volume the event that matters is the ..data swap in the
// volume's own directory. Adding a watch twice is harmless.
func (r *runner) rewatch() {
	if r.fsw == nil {
		return
	}
	for _, root := range r.roots {
		_ = r.fsw.Add(filepath.Dir(root))
		st, err := os.Stat(root)
		if err != nil || !st.IsDir() {
			continue
		}
		r.watchTree(root)
	}
}

// watchTree adds root and its visible subdirectories under the names events
// should carry (root may be a symlink to the tree walked).
func (r *runner) watchTree(root string) {
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return
	}
	_ = filepath.WalkDir(real, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if path != real && d.Name()[0] == '.' {
			return fs.SkipDir
		}
		rel, _ := filepath.Rel(real, path)
		_ = r.fsw.Add(filepath.Join(root, rel))
		if path != real && isAtomicDir(path) {
			return fs.SkipDir
		}
		return nil
	})
}

func cleanPaths(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		out[i] = filepath.Clean(p)
	}
	return out
}
