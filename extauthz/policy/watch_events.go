package policy

import (
	"path/filepath"
	"strings"

	"github.com/fsnotify/fsnotify"
)

// change is what an event means for the set.
type change int

const (
	ignored change = iota
	inPlace        // something was written, made or removed: let it settle
	moved          // a whole file or directory was renamed into place, or ..data swapped
)

// classify sorts an event on a watched directory. inotify reports a rename
// as Rename of the old name followed at once by Create of the new one; a
// Create right after a Rename in the same directory is therefore a file (or
// tree) that was complete before it appeared. A Create alone is a file made
// in place, still to be written. In a ConfigMap volume (atomicDir) only the
// ..data swap counts: kubelet adds and removes the visible links around it,
// and writes the new files in a hidden directory before it. Hidden names are
// never policy files.
func classify(ev, prev fsnotify.Event, roots []string, atomicDir func(string) bool) change {
	name := filepath.Clean(ev.Name)
	dir, base := filepath.Dir(name), filepath.Base(name)
	renamedIn := ev.Has(fsnotify.Create) && prev.Has(fsnotify.Rename) && filepath.Dir(filepath.Clean(prev.Name)) == dir
	structural := ev.Has(fsnotify.Create) || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)
	root, below := rootOf(name, roots)
	switch {
	case !root && !below:
		return ignored
	case root && renamedIn:
		return moved
	case root:
		return inPlace
	case base == atomicLink && ev.Has(fsnotify.Create):
		return moved
	case base == atomicLink:
		return inPlace
	case strings.HasPrefix(base, ".") || atomicDir(dir):
		return ignored
	case !isPolicyName(base) && !structural:
		return ignored // a README edited, not a directory made or removed
	case renamedIn:
		return moved
	}
	return inPlace
}

// rootOf reports whether name is one of roots, or lies below a root
// directory.
func rootOf(name string, roots []string) (root, below bool) {
	for _, r := range roots {
		switch {
		case name == r:
			root = true
		case strings.HasPrefix(name, r+string(filepath.Separator)):
			below = true
		}
	}
	return root, below
}
