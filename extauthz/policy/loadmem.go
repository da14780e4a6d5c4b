package policy

import (
	"runtime/debug"
	"sync"
)

// Parsing a large file builds yaml.v3's tree of the whole document first,
// about 25 bytes of tree for each byte of YAML, before any of it can be
// dropped: at the default GC percent the heap may grow to twice that tree.
// While a large file parses, the GC runs at a low percent instead; after a
// load that parsed one, the garbage is returned to the kernel at once.
const (
	largeFile      = 256 << 10
	loadGCPercent  = 10
	unsetGCPercent = -2 // no load holds the percent down
)

var loadGC struct {
	sync.Mutex
	holders int
	saved   int
}

// holdGC lowers the GC percent until release is called. Loads may overlap:
// the first lowers it, the last restores what it was. A percent already
// lower (or GC off) is left alone.
func holdGC() (release func()) {
	loadGC.Lock()
	defer loadGC.Unlock()
	if loadGC.holders == 0 {
		loadGC.saved = debug.SetGCPercent(loadGCPercent)
		if loadGC.saved < loadGCPercent {
			debug.SetGCPercent(loadGC.saved)
			loadGC.saved = unsetGCPercent
		}
	}
	loadGC.holders++
	return func() {
		loadGC.Lock()
		defer loadGC.Unlock()
		loadGC.holders--
		if loadGC.holders == 0 && loadGC.saved != unsetGCPercent {
			debug.SetGCPercent(loadGC.saved)
		}
	}
}
