package policy

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Bounds on what a watcher reads, so that a runaway file cannot exhaust
// the authorizer's memory. A set of 10,000 rules is a few megabytes.
const (
	MaxPolicyFileBytes  = 16 << 20
	MaxPolicyTotalBytes = 64 << 20
)

// atomicLink is the symlink kubelet renames over to switch a ConfigMap or
// Secret volume to a new directory of files in one step.
const atomicLink = "..data"

var (
	// ErrUnsettled marks files caught while changing: read again later.
	ErrUnsettled = errors.New("policy files are changing")
	errBusy      = fmt.Errorf("open for writing by a process: %w", ErrUnsettled)
	errMoved     = fmt.Errorf("changed or moved while being read: %w", ErrUnsettled)
)

// policyFile is a file of the set: name is how errors name it (the path
// the user sees), path where it is read.
type policyFile struct{ name, path string }

// snapshot is one version of the set: every file's contents, read whole.
type snapshot struct {
	files []policyFile
	data  [][]byte
	sum   [sha256.Size]byte
}

// takeSnapshot reads every policy file under paths. Files are read one by
// one, so afterwards it lists them again and checks that each is still the
// same file, unchanged: a rename, swap or write in the meantime could
// otherwise mix two versions.
func takeSnapshot(paths []string) (*snapshot, error) {
	files, err := listPolicyFiles(paths)
	if err != nil {
		return nil, err
	}
	s := &snapshot{files: files}
	infos := make([]os.FileInfo, len(files))
	total := 0
	for i, f := range files {
		data, info, err := readWhole(f, MaxPolicyTotalBytes-total)
		if err != nil {
			return nil, err
		}
		total += len(data)
		s.data, infos[i] = append(s.data, data), info
	}
	again, err := listPolicyFiles(paths)
	if err != nil || !sameFiles(files, again) {
		return nil, fmt.Errorf("%s: %w", strings.Join(paths, ", "), errMoved)
	}
	for i, f := range files {
		if now, err := os.Stat(f.path); err != nil || !sameVersion(infos[i], now) {
			return nil, fmt.Errorf("%s: %w", f.name, errMoved)
		}
	}
	s.sum = s.fingerprint()
	return s, nil
}

// readWhole reads one file, refusing it while a process has it open for
// writing (where the kernel can tell) or when it changes during the read.
func readWhole(f policyFile, budget int) ([]byte, os.FileInfo, error) {
	fh, err := os.OpenFile(f.path, readFlags, 0)
	if err != nil {
		return nil, nil, err
	}
	defer fh.Close()
	switch leaseState(fh) {
	case leaseBusy:
		return nil, nil, fmt.Errorf("%s: %w", f.name, errBusy)
	case leaseHeld:
		defer dropLease(fh) // at once after reading: a writer's open waits for it
	}
	before, err := fh.Stat()
	if err != nil {
		return nil, nil, err
	}
	limit := min(int64(MaxPolicyFileBytes), int64(budget))
	switch {
	case !before.Mode().IsRegular():
		return nil, nil, fmt.Errorf("%s: not a regular file", f.name)
	case before.Size() > limit:
		return nil, nil, fmt.Errorf("%s: %d bytes, more than the %d a watcher reads", f.name, before.Size(), limit)
	}
	data, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", f.name, err)
	}
	after, err := fh.Stat()
	if err != nil {
		return nil, nil, err
	}
	if int64(len(data)) != after.Size() || !sameVersion(before, after) {
		return nil, nil, fmt.Errorf("%s: %w", f.name, errMoved)
	}
	return data, after, nil
}

// sameVersion reports whether two looks at a path found the same file with
// the same size and modification time.
func sameVersion(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

func sameFiles(a, b []policyFile) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// fingerprint hashes names and contents, each length-prefixed so that no two
// versions hash alike by moving bytes from one file to the next.
func (s *snapshot) fingerprint() [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	for i, f := range s.files {
		for _, b := range [][]byte{[]byte(f.name), s.data[i]} {
			binary.BigEndian.PutUint64(n[:], uint64(len(b)))
			h.Write(n[:])
			h.Write(b)
		}
	}
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// versionSum names a version: a snapshot's fingerprint, or for a set that
// could not be read, its error, so that one error is reported once.
func versionSum(s *snapshot, err error) [sha256.Size]byte {
	if err != nil {
		return sha256.Sum256([]byte("error\x00" + err.Error()))
	}
	return s.sum
}

func (s *snapshot) build() (*Set, error) {
	b := newBuilder()
	for i, f := range s.files {
		b.parse(f.name, s.data[i])
	}
	return b.set()
}

// listPolicyFiles lists the *.yaml and *.yml files of paths, sorted by name.
func listPolicyFiles(paths []string) ([]policyFile, error) {
	var files []policyFile
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, policyFile{p, p})
			continue
		}
		if files, err = appendDir(files, p, p); err != nil {
			return nil, err
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	return files, nil
}

// appendDir adds the policy files below dir, named under name. Hidden
// directories are skipped. A directory with a ..data link is a ConfigMap
// volume: its files are read from the directory the link names now, not
// through the visible links, which kubelet changes before and after the
// swap.
func appendDir(files []policyFile, name, dir string) ([]policyFile, error) {
	root := dir
	if isAtomicDir(dir) {
		root = filepath.Join(dir, atomicLink)
	}
	root, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == root {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		hidden := strings.HasPrefix(d.Name(), ".")
		switch {
		case d.IsDir() && hidden:
			return fs.SkipDir
		case d.IsDir() && isAtomicDir(path):
			files, err = appendDir(files, filepath.Join(name, rel), path)
			if err != nil {
				return err
			}
			return fs.SkipDir
		case !d.IsDir() && !hidden && isPolicyName(d.Name()):
			files = append(files, policyFile{filepath.Join(name, rel), path})
		}
		return nil
	})
	return files, err
}

func isAtomicDir(dir string) bool {
	st, err := os.Lstat(filepath.Join(dir, atomicLink))
	return err == nil && st.Mode()&fs.ModeSymlink != 0
}

func isPolicyName(base string) bool {
	return strings.HasSuffix(base, ".yaml") || strings.HasSuffix(base, ".yml")
}
