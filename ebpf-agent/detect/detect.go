// Package detect judges a container's system calls. This first rule flags a
// container that executes a shell: service containers rarely do, and an
// attacker with code execution almost always does. It knows nothing of eBPF.
package detect

import (
	"path"
	"sync"
)

// Syscall numbers (x86_64) of exec.
const (
	sysExecve   = 59
	sysExecveat = 322
)

// Call is one observed system call.
type Call struct {
	Workload string
	PID      uint32
	Syscall  uint32
	Path     string // for exec
}

// Finding is what a rule saw.
type Finding struct {
	Workload string
	Reason   string
	Score    float64
	Evidence []string
}

// shells are the interpreters whose exec counts as "spawned a shell".
var shells = map[string]bool{"sh": true, "bash": true, "dash": true, "zsh": true, "ash": true,
	"ksh": true, "csh": true, "tcsh": true, "fish": true, "busybox": true}

// ShellExec flags the first shell exec of each workload.
type ShellExec struct {
	mu      sync.Mutex
	flagged map[string]bool
}

// NewShellExec returns the rule with no workload flagged yet.
func NewShellExec() *ShellExec { return &ShellExec{flagged: map[string]bool{}} }

// Observe returns a finding for the first shell exec of a workload, and
// nothing for later ones: one verdict per workload until it is reset.
func (r *ShellExec) Observe(c Call) (Finding, bool) {
	if (c.Syscall != sysExecve && c.Syscall != sysExecveat) || !shells[path.Base(c.Path)] {
		return Finding{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.flagged[c.Workload] {
		return Finding{}, false
	}
	r.flagged[c.Workload] = true
	return Finding{Workload: c.Workload, Reason: "exec-shell", Score: 1,
		Evidence: []string{"pid " + itoa(c.PID) + " executed " + c.Path}}, true
}

// Reset forgets a workload, e.g. once its quarantine is released.
func (r *ShellExec) Reset(workload string) {
	r.mu.Lock()
	delete(r.flagged, workload)
	r.mu.Unlock()
}

func itoa(n uint32) string {
	if n == 0 {
		return "0"
	}
	var b [10]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	return string(b[i:])
}
