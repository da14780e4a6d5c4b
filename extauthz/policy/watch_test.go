package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/fsnotify/fsnotify"
)

func allowPolicy(method string) string {
	return "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: shop}\nspec:\n  rules:\n  - to: [{operation: {methods: [" + method + "]}}]\n"
}

// pathPolicy is a policy named name whose one rule matches path.
func pathPolicy(name, action, path string) string {
	return "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: " + name + ", namespace: shop}\n" +
		"spec:\n  action: " + action + "\n  rules:\n  - to: [{operation: {paths: [\"" + path + "\"]}}]\n"
}

func writeFile(t *testing.T, name, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestWatcher(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.yaml")
	write := func(s string) { writeFile(t, file, s) }
	write(allowPolicy("GET"))
	w := NewWatcher(0, dir)
	var applied []*Set
	var rejected []error
	w.OnApply = func(s *Set) { applied = append(applied, s) }
	w.OnReject = func(err error) { rejected = append(rejected, err) }
	set, err := w.Load()
	if err != nil || !set.Evaluate(req(frontend, "/")).Allow {
		t.Fatalf("initial load: %v", err)
	}
	if changed, err := w.Check(); changed || err != nil {
		t.Fatalf("no change reloaded: %v %v", changed, err)
	}
	write(allowPolicy("POST"))
	if changed, err := w.Check(); !changed || err != nil || len(applied) != 1 {
		t.Fatalf("change not applied: %v %v", changed, err)
	}
	if applied[0].Evaluate(req(frontend, "/")).Allow || !applied[0].Evaluate(req(frontend, "/", method("POST"))).Allow {
		t.Fatal("the new set does not say what the file says")
	}
	write(allowPolicy("GET") + "  - to: [{operation: {ports: [\"x\"]}}]\n")
	if changed, err := w.Check(); changed || err == nil || !strings.Contains(err.Error(), "p.yaml:7:") || len(rejected) != 1 {
		t.Fatalf("invalid change: %v %v", changed, err)
	}
	if changed, _ := w.Check(); changed || len(rejected) != 1 {
		t.Fatal("a rejected version was tried again without a change")
	}
	writeFile(t, filepath.Join(dir, "q.yml"), strings.Replace(allowPolicy("PUT"), "name: p", "name: q", 1))
	write(allowPolicy("GET"))
	if changed, err := w.Check(); !changed || err != nil || len(applied) != 2 || applied[1].Policies() != 2 {
		t.Fatalf("fixed file and a new file: %v %v", changed, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if changed, err := w.Check(); changed || !errors.Is(err, os.ErrNotExist) || len(rejected) != 2 {
			t.Fatalf("check %d of a missing directory: %v %v, %d rejections", i, changed, err, len(rejected))
		}
	}
}

// projectVolume updates dir the way kubelet updates a ConfigMap volume: the
// files go into a new hidden directory, visible links to new names are made,
// the ..data link is swapped by a rename, then links to names gone and the
// old directory are removed.
func projectVolume(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	ts, err := os.MkdirTemp(dir, "..2026_01_02_03_04_05.")
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		writeFile(t, filepath.Join(ts, name), body)
	}
	data := filepath.Join(dir, atomicLink)
	old, _ := os.Readlink(data)
	for name := range files {
		if _, err := os.Lstat(filepath.Join(dir, name)); errors.Is(err, os.ErrNotExist) {
			if err := os.Symlink(filepath.Join(atomicLink, name), filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Symlink(filepath.Base(ts), data+"_tmp"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(data+"_tmp", data); err != nil {
		t.Fatal(err)
	}
	if old == "" {
		return
	}
	gone, _ := os.ReadDir(filepath.Join(dir, old))
	for _, e := range gone {
		if _, keep := files[e.Name()]; !keep {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
		t.Fatal(err)
	}
}

func TestWatchSnapshot(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		files []string // names of the snapshot, or
		err   string   // its error
	}{
		{"plain tree, hidden names skipped", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "a.yaml"), pathPolicy("a", "ALLOW", "/a"))
			writeFile(t, filepath.Join(dir, "sub", "b.yml"), pathPolicy("b", "ALLOW", "/b"))
			writeFile(t, filepath.Join(dir, "README.md"), "not a policy")
			writeFile(t, filepath.Join(dir, ".a.yaml.swp"), "half")
			writeFile(t, filepath.Join(dir, ".git", "c.yaml"), "kind: nothing")
		}, []string{"a.yaml", "sub/b.yml"}, ""},
		{"ConfigMap volume read once, through ..data", func(t *testing.T, dir string) {
			projectVolume(t, dir, map[string]string{"a.yaml": pathPolicy("a", "ALLOW", "/a"), "b.yaml": pathPolicy("b", "ALLOW", "/b")})
			projectVolume(t, dir, map[string]string{"a.yaml": pathPolicy("a", "ALLOW", "/a2"), "c.yaml": pathPolicy("c", "ALLOW", "/c")})
		}, []string{"a.yaml", "c.yaml"}, ""},
		{"ConfigMap volume in a subdirectory", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "a.yaml"), pathPolicy("a", "ALLOW", "/a"))
			os.Mkdir(filepath.Join(dir, "shop"), 0o700)
			projectVolume(t, filepath.Join(dir, "shop"), map[string]string{"b.yaml": pathPolicy("b", "ALLOW", "/b")})
		}, []string{"a.yaml", "shop/b.yaml"}, ""},
		{"too large", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "big.yaml"), strings.Repeat("#", MaxPolicyFileBytes+1))
		}, nil, "big.yaml: 16777217 bytes, more than"},
		{"a FIFO under a policy name does not block the reader", func(t *testing.T, dir string) {
			if err := syscall.Mkfifo(filepath.Join(dir, "p.yaml"), 0o600); err != nil {
				t.Skip(err)
			}
		}, nil, "p.yaml: not a regular file"},
		{"dangling link", func(t *testing.T, dir string) {
			os.Symlink("gone.yaml", filepath.Join(dir, "p.yaml"))
		}, nil, "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			snap, err := takeSnapshot([]string{dir})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, f := range snap.files {
				names = append(names, strings.TrimPrefix(f.name, dir+"/"))
			}
			if strings.Join(names, " ") != strings.Join(tc.files, " ") {
				t.Fatalf("files %q, want %q", names, tc.files)
			}
			if _, err := snap.build(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A file some process still holds open for writing is not read, even when
// what it holds so far is a whole, valid policy.
func TestWatchSnapshotRefusesFileOpenForWriting(t *testing.T) {
	dir := t.TempDir()
	if !leasesWork(t, dir) {
		t.Skip("no read leases on this filesystem: the settle time alone protects it")
	}
	name := filepath.Join(dir, "p.yaml")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(pathPolicy("p", "ALLOW", "/a"))
	if _, err := takeSnapshot([]string{dir}); !errors.Is(err, ErrUnsettled) || !strings.Contains(err.Error(), "p.yaml: open for writing") {
		t.Fatalf("snapshot of a file being written: %v", err)
	}
	f.Close()
	if _, err := takeSnapshot([]string{dir}); err != nil {
		t.Fatalf("snapshot after the writer closed: %v", err)
	}
}

func TestWatchClassify(t *testing.T) {
	const root = "/p"
	volume := func(dir string) bool { return dir == "/p/cm" }
	ev := func(name string, op fsnotify.Op) fsnotify.Event { return fsnotify.Event{Name: name, Op: op} }
	none := fsnotify.Event{}
	tests := []struct {
		name     string
		ev, prev fsnotify.Event
		want     change
	}{
		{"file written in place", ev("/p/a.yaml", fsnotify.Write), none, inPlace},
		{"file made in place", ev("/p/a.yaml", fsnotify.Create), none, inPlace},
		{"file renamed into place", ev("/p/a.yaml", fsnotify.Create), ev("/p/.a.yaml.tmp", fsnotify.Rename), moved},
		{"file renamed in from another directory's rename", ev("/p/a.yaml", fsnotify.Create), ev("/p/sub/x", fsnotify.Rename), inPlace},
		{"file removed", ev("/p/a.yml", fsnotify.Remove), none, inPlace},
		{"file renamed away", ev("/p/a.yml", fsnotify.Rename), none, inPlace},
		{"file in a subdirectory", ev("/p/sub/a.yaml", fsnotify.Write), none, inPlace},
		{"editor's hidden temporary", ev("/p/.a.yaml.swp", fsnotify.Write), none, ignored},
		{"other file written", ev("/p/README.md", fsnotify.Write), none, ignored},
		{"directory made", ev("/p/sub", fsnotify.Create), none, inPlace},
		{"ConfigMap ..data swapped", ev("/p/cm/..data", fsnotify.Create), ev("/p/cm/..data_tmp", fsnotify.Rename), moved},
		{"ConfigMap ..data_tmp made", ev("/p/cm/..data_tmp", fsnotify.Create), none, ignored},
		{"ConfigMap data directory made", ev("/p/cm/..2026_01_02_03_04_05.1", fsnotify.Create), none, ignored},
		{"ConfigMap visible link made", ev("/p/cm/b.yaml", fsnotify.Create), none, ignored},
		{"ConfigMap visible link removed", ev("/p/cm/a.yaml", fsnotify.Remove), none, ignored},
		{"ConfigMap ..data removed", ev("/p/cm/..data", fsnotify.Remove), none, inPlace},
		{"root removed (seen in its parent)", ev("/p", fsnotify.Remove), none, inPlace},
		{"root made again", ev("/p", fsnotify.Create), none, inPlace},
		{"root renamed into place", ev("/p", fsnotify.Create), ev("/p.new", fsnotify.Rename), moved},
		{"sibling of the root", ev("/policy-notes.yaml", fsnotify.Write), none, ignored},
		{"root prefix that is not the root", ev("/pp/a.yaml", fsnotify.Write), none, ignored},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(tc.ev, tc.prev, []string{root}, volume); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

// Load (policy lint and explain) reads a ConfigMap volume's files once, not
// a second time inside its hidden data directory.
func TestWatchVolumeLoadsOnce(t *testing.T) {
	dir := t.TempDir()
	projectVolume(t, dir, map[string]string{"a.yaml": pathPolicy("a", "ALLOW", "/a")})
	set, err := Load(dir)
	if err != nil || set.Policies() != 1 {
		t.Fatalf("load of a volume: %v", err)
	}
}
