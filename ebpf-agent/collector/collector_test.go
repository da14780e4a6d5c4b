package collector

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshward/meshward/ebpf-agent/cgroups"
)

// childEnv makes the test binary a workload: it calls getppid N times and
// execs /bin/true, then exits.
const childEnv = "MESHWARD_COLLECTOR_CHILD"

const sysGetppid = 110

func TestMain(m *testing.M) {
	if n, err := strconv.Atoi(os.Getenv(childEnv)); err == nil {
		for i := 0; i < n; i++ {
			syscall.Getppid()
		}
		_ = syscall.Exec("/bin/true", []string{"true"}, nil)
		os.Exit(3)
	}
	os.Exit(m.Run())
}

// requireBPF skips unless this process may load eBPF programs.
func requireBPF(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to load eBPF programs and create cgroups (CI runs as root)")
	}
}

func TestDecode(t *testing.T) {
	b := make([]byte, execEventSize)
	copy(b, []byte{1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 59, 0, 0, 0, 4, 0, 0, 0})
	copy(b[eventSize:], "/bin/sh\x00garbage")
	ev, err := decode(b, nil)
	if err != nil || ev.KtimeNs != 1 || ev.CgroupID != 2 || ev.PID != 3 || ev.TID != 4 || ev.Syscall != 59 || ev.Path != "/bin/sh" || ev.Window != nil {
		t.Fatalf("decode = %+v, %v", ev, err)
	}
	if _, err := decode(b[:10], nil); err == nil {
		t.Fatal("a short record decoded")
	}
	w := make([]byte, windowSize)
	copy(w, []byte{9, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, kindWindow, 0, 0, 0, 39, 0, 1, 1, 231, 0})
	if ev, err := decode(w, make([]uint32, 0, MaxWindow)); err != nil || fmt.Sprint(ev.Window) != "[39 257 231]" || ev.Syscall != 0 || ev.TID != 4 {
		t.Fatalf("window: %+v, %v", ev, err)
	}
	w[20] = MaxWindow + 1
	if _, err := decode(w, nil); err == nil {
		t.Fatal("a window of too many calls decoded")
	}
}

// monitoring opens the program with opts on a fresh cgroup it monitors;
// both go when the test ends.
func monitoring(t *testing.T, opts Options, name string) (*Collector, string, uint64) {
	t.Helper()
	requireBPF(t)
	c, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	dir, id, err := cgroups.Create(fmt.Sprintf("meshward-%s-%d", name, os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cgroups.Remove(dir) })
	if err := c.Monitor(id); err != nil {
		t.Fatal(err)
	}
	return c, dir, id
}

// collecting opens the program with opts, monitors a fresh cgroup and hands
// its events to fn, under mu, until stop (which lets the last batch drain).
func collecting(t *testing.T, opts Options, name string, mu *sync.Mutex, fn func(Event)) (c *Collector, dir string, id uint64, stop func()) {
	t.Helper()
	c, dir, id = monitoring(t, opts, name)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, func(e Event) { mu.Lock(); fn(e); mu.Unlock() }) }()
	return c, dir, id, func() {
		t.Helper()
		cancel() // Run hands over what the ring buffer holds before it returns
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// runChild runs the test binary inside the cgroup from its first
// instruction: calls getppid calls, then /bin/true.
func runChild(t *testing.T, dir string, calls int) *exec.Cmd {
	t.Helper()
	cg, err := cgroups.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+strconv.Itoa(calls))
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v", err)
	}
	return cmd
}

// A process started inside a test-made cgroup: every one of its getppid
// calls arrives, with the cgroup's id and its pid, plus its exec with the
// path; nothing arrives from outside the cgroup.
func TestCollectsOnlyTheMonitoredCgroup(t *testing.T) {
	var mu sync.Mutex
	var events []Event
	c, dir, id, stop := collecting(t, Options{}, "test", &mu, func(e Event) { events = append(events, e) })
	const calls = 200_000
	quit := make(chan struct{})
	go func() { // syscalls outside the cgroup while the child runs
		for {
			select {
			case <-quit:
				return
			default:
				syscall.Getppid()
			}
		}
	}()
	cmd := runChild(t, dir, calls)
	close(quit)
	stop()

	mu.Lock()
	defer mu.Unlock()
	child := uint32(cmd.Process.Pid)
	var getppid int
	var exec string
	for _, e := range events {
		if e.CgroupID != id || e.PID != child || e.TID == 0 {
			t.Fatalf("event from outside the cgroup or the child: %+v (cgroup %d, child %d)", e, id, child)
		}
		switch e.Syscall {
		case sysGetppid:
			getppid++
		case SysExecve:
			exec = e.Path
		}
	}
	drops, err := c.Drops()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d events from the child, %d getppid, exec %q, %d drops", len(events), getppid, exec, drops)
	if getppid != calls || drops != 0 {
		t.Fatalf("%d getppid events and %d drops, want %d and 0", getppid, drops, calls)
	}
	if exec != "/bin/true" {
		t.Fatalf("exec path %q, want /bin/true", exec)
	}
}

// The agent never records itself, even inside a monitored cgroup: the test
// process moves into one, and only its child's calls arrive.
func TestExcludesItself(t *testing.T) {
	c, dir, id := monitoring(t, Options{}, "self")
	root, _ := cgroups.Mount()
	move := func(to string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(to, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	move(dir)
	defer move(root)
	var mu sync.Mutex
	var self, child int
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, func(e Event) {
			mu.Lock()
			defer mu.Unlock()
			if e.PID == uint32(os.Getpid()) {
				self++
			} else if e.CgroupID == id {
				child++
			}
		})
	}()
	for i := 0; i < 10000; i++ {
		syscall.Getppid()
	}
	if err := exec.Command("/bin/true").Run(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if self != 0 || child == 0 {
		t.Fatalf("%d events of the agent's own process (want 0), %d of its child (want some)", self, child)
	}
}

// Windows gathered in the kernel: every call of the child arrives, in its
// threads' windows of exactly Window calls but for each thread's last (cut
// short by its exit), with nothing dropped; the exec still comes at once.
func TestWindowsInTheKernel(t *testing.T) {
	const window = 100
	var mu sync.Mutex
	perThread := map[uint32][]int{} // window lengths, in order
	var getppid int
	var execs []string
	c, dir, _, stop := collecting(t, Options{Window: window}, "windows", &mu, func(e Event) {
		if e.Window == nil {
			if e.Syscall == SysExecve {
				execs = append(execs, e.Path)
			}
			return
		}
		perThread[e.TID] = append(perThread[e.TID], len(e.Window))
		for _, nr := range e.Window {
			if nr == sysGetppid {
				getppid++
			}
		}
	})
	const calls = 200_000
	runChild(t, dir, calls)
	// The threads' last windows are handed over as they exit, last of all:
	// wait for them (a loaded machine may be slow to read), then stop.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		got := getppid
		mu.Unlock()
		if got >= calls {
			break
		}
	}
	stop()
	mu.Lock()
	defer mu.Unlock()
	drops, _ := c.Drops()
	if getppid != calls || drops != 0 || fmt.Sprint(execs) != fmt.Sprint([]string{os.Args[0], "/bin/true"}) {
		t.Fatalf("%d getppid in windows, %d drops, execs %q; want %d, 0, the child and /bin/true", getppid, drops, execs, calls)
	}
	// Each thread's life ends in one short window; the exec adds one (the
	// thread that execs takes over its leader's id, the leader's life ends).
	short := 0
	for tid, lens := range perThread {
		for i, n := range lens {
			if n < 1 || n > window {
				t.Fatalf("thread %d: window %d has %d calls", tid, i, n)
			}
			if n < window {
				short++
			}
		}
	}
	if short > len(perThread)+1 {
		t.Fatalf("%d windows cut short for %d threads and one exec", short, len(perThread))
	}
	t.Logf("%d getppid in the windows of %d threads, 0 drops", getppid, len(perThread))
}

// A full ring buffer loses calls, counts each one, and breaks nothing: with
// no reader while the child makes more calls than the buffer holds, what
// arrives afterwards plus what was counted as dropped is every call.
func TestOverflowIsCounted(t *testing.T) {
	c, dir, _ := monitoring(t, Options{}, "overflow")
	const calls = 700_000 // 16 MiB holds about 420,000 records of 40 bytes
	runChild(t, dir, calls)
	var getppid int
	ctx, cancel := context.WithTimeout(context.Background(), time.Second) // reading 420,000 records takes a fraction of it
	defer cancel()
	if err := c.Run(ctx, func(e Event) {
		if e.Syscall == sysGetppid {
			getppid++
		}
	}); err != nil {
		t.Fatal(err)
	}
	perCPU, err := c.DropsPerCPU()
	if err != nil {
		t.Fatal(err)
	}
	var drops uint64
	for _, n := range perCPU {
		drops += n
	}
	t.Logf("%d getppid read, %d calls dropped (per CPU %v)", getppid, drops, perCPU)
	if drops == 0 || getppid == 0 || uint64(getppid)+drops < calls {
		t.Fatalf("%d read + %d dropped, want at least %d with some of each", getppid, drops, calls)
	}
}

// Records come from the kernel, but a decoder that trusts its input is one
// bug away from a panic: any bytes decode to an event or an error.
func FuzzDecode(f *testing.F) {
	w := make([]byte, windowSize)
	w[20], w[28] = 3, kindWindow
	f.Add(w)
	f.Add(make([]byte, execEventSize))
	f.Add(make([]byte, eventSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := decode(b, make([]uint32, 0, MaxWindow))
		if err == nil && len(ev.Window) > MaxWindow {
			t.Fatalf("a window of %d calls", len(ev.Window))
		}
	})
}
