package policy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testPoll = 10 * time.Millisecond
	// never is a settle time no test waits for: what a test sees applied
	// under it was applied on an event, not because it settled.
	never = time.Hour
	// guard fails a test whose watcher does nothing; it never paces one.
	guard = 30 * time.Second
)

// hook is one call of OnApply (set) or OnReject (err).
type hook struct {
	set *Set
	err error
}

type runningWatcher struct {
	t     *testing.T
	hooks chan hook
	stop  func()
}

// runWatcher loads paths and runs a watcher on them until the test ends;
// like Start, it returns once the watches are in place.
func runWatcher(t *testing.T, settle time.Duration, paths ...string) *runningWatcher {
	t.Helper()
	w := NewWatcher(testPoll, paths...)
	w.Settle = settle
	if _, err := w.Load(); err != nil {
		t.Fatal(err)
	}
	r := &runningWatcher{t: t, hooks: make(chan hook, 16)}
	send := func(h hook) {
		select {
		case r.hooks <- h:
		default:
			t.Errorf("more than %d reloads", cap(r.hooks))
		}
	}
	w.OnApply = func(s *Set) { send(hook{set: s}) }
	w.OnReject = func(err error) { send(hook{err: err}) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	run := w.start() // as Start does, but the test waits for the end
	go func() {
		defer close(done)
		run.loop(ctx)
	}()
	var once sync.Once
	r.stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(r.stop)
	return r
}

// next waits for the next apply or rejection.
func (r *runningWatcher) next() hook {
	r.t.Helper()
	select {
	case h := <-r.hooks:
		return h
	case <-time.After(guard):
		r.t.Fatalf("nothing applied or rejected within %v", guard)
		return hook{}
	}
}

// nextApply waits for the next hook call and fails unless it applied a set.
func (r *runningWatcher) nextApply() *Set {
	r.t.Helper()
	h := r.next()
	if h.err != nil {
		r.t.Fatalf("rejected: %v", h.err)
	}
	return h.set
}

// finish stops the watcher and fails on any hook call not yet taken.
func (r *runningWatcher) finish() {
	r.t.Helper()
	r.stop()
	close(r.hooks)
	for h := range r.hooks {
		r.t.Errorf("unexpected reload: set %v, error %v", h.set != nil, h.err)
	}
}

func allows(s *Set, path string) bool { return s.Evaluate(req(frontend, path)).Allow }

// writeChunks truncates name and writes chunks into it in place, pausing
// between them; held keeps one descriptor open throughout (cp, an editor
// saving in place), otherwise each chunk is appended by a new open (a
// script's echo >> lines).
func writeChunks(t *testing.T, name string, chunks []string, pause time.Duration, held bool) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_TRUNC, 0)
	for i, c := range chunks {
		if i > 0 {
			time.Sleep(pause) // the scenario: a slow writer
		}
		if f == nil {
			f, err = os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(c); err != nil {
			t.Fatal(err)
		}
		if !held || i == len(chunks)-1 {
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			f = nil
		}
	}
}

// (a) An editor writes a temporary file, slowly, and renames it over the
// policy: the new file is applied on the rename, without waiting to settle,
// and an invalid one is rejected the same way while the last good set stays.
func TestWatchRenameIntoPlace(t *testing.T) {
	dir := t.TempDir()
	file, tmp := filepath.Join(dir, "p.yaml"), filepath.Join(dir, ".p.yaml.tmp")
	writeFile(t, file, pathPolicy("p", "ALLOW", "/a"))
	r := runWatcher(t, never, dir)
	replace := func(body string) {
		writeFile(t, tmp, "")
		half := len(body) / 2
		writeChunks(t, tmp, []string{body[:half], body[half:]}, 3*testPoll, true)
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	replace(pathPolicy("p", "ALLOW", "/b"))
	if s := r.nextApply(); allows(s, "/a") || !allows(s, "/b") {
		t.Fatal("the applied set is not the renamed file")
	}
	replace(pathPolicy("p", "ALLOW", "/c") + "    when: [{key: nope, values: [x]}]\n")
	if h := r.next(); h.err == nil || !strings.Contains(h.err.Error(), "p.yaml:") {
		t.Fatalf("an invalid file was not rejected: %+v", h)
	}
	r.finish()
}

// (b) The attack: a file rewritten in place, in chunks, with pauses longer
// than a poll interval, where what is written before a pause is a valid
// policy file on its own (the ALLOW without the DENY that follows it, which
// would open /admin). The prefix is never applied nor rejected: the first
// reload is the whole file.
func TestWatchInPlaceWriteNeverAppliesAPrefix(t *testing.T) {
	allow, deny := pathPolicy("base", "ALLOW", "*"), pathPolicy("guard", "DENY", "/admin")
	if _, err := Parse("prefix.yaml", []byte(allow)); err != nil {
		t.Fatalf("the prefix must be a valid file for this test: %v", err)
	}
	chunks := []string{allow, "---\n" + deny[:len(deny)/2], deny[len(deny)/2:]}
	tests := []struct {
		name   string
		held   bool
		settle time.Duration
		pause  time.Duration
	}{
		// Pauses longer than the settle time itself: the read lease sees the
		// writer's open descriptor.
		{"writer keeps the file open, pauses past the settle time", true, 5 * testPoll, 15 * testPoll},
		// A writer that reopens the file is only told apart by time.
		{"writer reopens for each chunk", false, DefaultSettle, 3 * testPoll},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.held && !leasesWork(t, dir) {
				t.Skip("no read leases on this filesystem")
			}
			file := filepath.Join(dir, "p.yaml")
			writeFile(t, file, pathPolicy("base", "ALLOW", "/a"))
			r := runWatcher(t, tc.settle, dir)
			writeChunks(t, file, chunks, tc.pause, tc.held)
			s := r.nextApply()
			if !allows(s, "/b") || allows(s, "/admin") {
				t.Fatalf("applied a part of the file: /b %v, /admin %v", allows(s, "/b"), allows(s, "/admin"))
			}
			r.finish()
		})
	}
}

// versionFiles are the files of version v of a volume: each allows
// /v/name, so a set that mixes versions is told apart.
func versionFiles(v string, names ...string) map[string]string {
	files := map[string]string{}
	for _, n := range names {
		files[n+".yaml"] = pathPolicy(n, "ALLOW", "/"+v+"/"+n)
	}
	return files
}

// isVersion reports whether s is exactly version v of files.
func isVersion(s *Set, v string, files map[string]string, others ...string) bool {
	if s.Policies() != len(files) {
		return false
	}
	for name := range files {
		n := strings.TrimSuffix(name, ".yaml")
		if !allows(s, "/"+v+"/"+n) {
			return false
		}
		for _, o := range others {
			if allows(s, "/"+o+"/"+n) {
				return false
			}
		}
	}
	return true
}

// (c) kubelet updates a ConfigMap volume: several files change, one goes,
// one comes, all at one ..data swap. Each version is applied once, on the
// swap (the settle time is never reached), and never a mix of two.
func TestWatchConfigMapSwap(t *testing.T) {
	vol := filepath.Join(t.TempDir(), "policies")
	os.Mkdir(vol, 0o700)
	v1, v2, v3 := versionFiles("1", "p", "q", "r"), versionFiles("2", "p", "q", "s"), versionFiles("3", "p", "r", "t", "u")
	projectVolume(t, vol, v1)
	r := runWatcher(t, never, vol)
	projectVolume(t, vol, v2)
	if s := r.nextApply(); !isVersion(s, "2", v2, "1") {
		t.Fatal("the applied set is not version 2 alone")
	}
	projectVolume(t, vol, v3)
	if s := r.nextApply(); !isVersion(s, "3", v3, "1", "2") {
		t.Fatal("the applied set is not version 3 alone")
	}
	r.finish()
}

// (d) The whole directory is deleted and made again, its files written one
// after the other; or a complete new directory is renamed over it. The
// first reload is the whole new set: never the empty or half-filled
// directory (an empty set would allow everything), and no rejection of the
// missing one.
func TestWatchDirectoryRecreated(t *testing.T) {
	v1, v2 := versionFiles("1", "p", "q"), versionFiles("2", "p", "q", "r")
	// fill writes the files one by one, a few polls apart, as a person or
	// a slow script would.
	fill := func(dir string, files map[string]string, pause time.Duration) {
		for _, n := range []string{"p.yaml", "q.yaml", "r.yaml"} {
			if body, ok := files[n]; ok {
				time.Sleep(pause)
				writeFile(t, filepath.Join(dir, n), body)
			}
		}
	}
	tests := []struct {
		name    string
		replace func(t *testing.T, dir string)
	}{
		{"deleted and refilled", func(t *testing.T, dir string) {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			fill(dir, v2, 3*testPoll)
		}},
		{"deleted, then a new one renamed into place", func(t *testing.T, dir string) {
			fill(dir+".new", v2, 0)
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(dir+".new", dir); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "policies")
			fill(dir, v1, 0)
			r := runWatcher(t, DefaultSettle, dir)
			tc.replace(t, dir)
			if s := r.nextApply(); !isVersion(s, "2", v2, "1") {
				t.Fatal("the first set applied is not the whole new directory")
			}
			r.finish()
		})
	}
}

// An editor that renames the file away (a backup) and writes a new one in
// its place: the moment without the file is never applied.
func TestWatchBackupThenRewrite(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.yaml")
	writeFile(t, file, pathPolicy("p", "DENY", "/admin")+"---\n"+pathPolicy("q", "ALLOW", "*"))
	r := runWatcher(t, DefaultSettle, dir)
	if err := os.Rename(file, file+"~"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * testPoll) // the editor writes its buffer out
	writeFile(t, file, pathPolicy("p", "DENY", "/admin")+"---\n"+pathPolicy("q", "ALLOW", "/b"))
	if s := r.nextApply(); allows(s, "/admin") || !allows(s, "/b") || allows(s, "/c") {
		t.Fatal("the first set applied is not the rewritten file")
	}
	r.finish()
}
