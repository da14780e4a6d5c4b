// Package collector loads meshward's sys_enter program and reads its events:
// the system calls of each monitored cgroup (cgroup v2 id), one by one or
// gathered per thread into windows in the kernel.
package collector

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
)

// Syscall numbers (x86_64) the agent gives meaning to.
const (
	SysExecve   = 59
	SysExecveat = 322
)

// Event is one system call, or one thread's window of calls.
type Event struct {
	KtimeNs  uint64 // CLOCK_MONOTONIC at sys_enter (a window: when it was handed over)
	CgroupID uint64
	PID      uint32 // thread-group id
	TID      uint32 // thread id
	Syscall  uint32
	Path     string // the exec'd path, for execve and execveat
	// Window, in window mode, holds a thread's calls in order (Syscall is
	// then unset): full windows, and the last, shorter one when the thread
	// exits. Valid only during the callback.
	Window []uint32
}

// MaxWindow is the longest window the kernel gathers.
const MaxWindow = 128

// Options choose what the program hands over.
type Options struct {
	// Window, when above 0, gathers each thread's calls in the kernel into
	// windows of this many calls (at most MaxWindow); exec calls still come
	// one by one, at once. 0: every call is a record of its own.
	Window int
}

const (
	eventSize     = 32
	execEventSize = eventSize + 128
	windowSize    = eventSize + 2*MaxWindow
	kindWindow    = 2
	// pollEvery bounds how long a batched event waits in the ring buffer:
	// the program wakes the reader only once a batch is queued.
	pollEvery = 20 * time.Millisecond
)

// Collector is a loaded, attached sys_enter program (and, in window mode,
// the sched_process_exit and sched_process_exec ones that hand over a
// thread's last window).
type Collector struct {
	objs   bpfObjects
	link   link.Link
	ends   []link.Link // sched_process_exit and _exec: where windows end
	rd     *ringbuf.Reader
	window []uint32 // the buffer Event.Window lends
}

// Open loads and attaches the program. It needs root (CAP_BPF, CAP_PERFMON).
func Open(opts Options) (*Collector, error) {
	if opts.Window < 0 || opts.Window > MaxWindow {
		return nil, fmt.Errorf("collector: window of %d calls, want 0 to %d", opts.Window, MaxWindow)
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("collector: memlock: %w", err)
	}
	c := &Collector{window: make([]uint32, 0, MaxWindow)}
	spec, err := loadBpf()
	if err != nil {
		return nil, fmt.Errorf("collector: eBPF spec: %w", err)
	}
	if err := spec.Variables[bpfVarSelfTgid].Set(uint32(os.Getpid())); err != nil {
		return nil, fmt.Errorf("collector: excluding the agent itself: %w", err)
	}
	if err := spec.Variables[bpfVarWindowLen].Set(uint32(opts.Window)); err != nil {
		return nil, fmt.Errorf("collector: window length: %w", err)
	}
	if err := spec.LoadAndAssign(&c.objs, nil); err != nil {
		return nil, fmt.Errorf("collector: loading eBPF objects: %w", err)
	}
	c.link, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_enter", Program: c.objs.SysEnter})
	if err != nil {
		c.objs.Close()
		return nil, fmt.Errorf("collector: attaching raw_tracepoint/sys_enter: %w", err)
	}
	if opts.Window > 0 {
		for _, tp := range []struct {
			name string
			prog *ebpf.Program
		}{{"sched_process_exit", c.objs.SchedExit}, {"sched_process_exec", c.objs.SchedExec}} {
			l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: tp.name, Program: tp.prog})
			if err != nil {
				c.Close()
				return nil, fmt.Errorf("collector: attaching raw_tracepoint/%s: %w", tp.name, err)
			}
			c.ends = append(c.ends, l)
		}
	}
	if c.rd, err = ringbuf.NewReader(c.objs.Events); err != nil {
		c.Close()
		return nil, fmt.Errorf("collector: ring buffer reader: %w", err)
	}
	return c, nil
}

// Monitor starts collecting a cgroup's system calls.
func (c *Collector) Monitor(cgroupID uint64) error {
	return c.objs.Monitored.Put(cgroupID, uint8(1))
}

// Unmonitor stops collecting a cgroup's system calls.
func (c *Collector) Unmonitor(cgroupID uint64) error {
	return c.objs.Monitored.Delete(cgroupID)
}

// DropsPerCPU is, for each CPU, how many events were lost because the ring
// buffer was full.
func (c *Collector) DropsPerCPU() ([]uint64, error) {
	var perCPU []uint64
	err := c.objs.Drops.Lookup(uint32(0), &perCPU)
	return perCPU, err
}

// Drops sums, over CPUs, the events lost because the ring buffer was full.
func (c *Collector) Drops() (uint64, error) {
	perCPU, err := c.DropsPerCPU()
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, v := range perCPU {
		n += v
	}
	return n, nil
}

// Run reads events and hands each to fn until ctx ends or the collector is
// closed. It is the one reader loop; it returns nil on a clean end. When ctx
// ends it still hands over every event already in the ring buffer (batched
// wake-ups leave up to a poll's worth unannounced there), so nothing that
// happened before the end is lost.
func (c *Collector) Run(ctx context.Context, fn func(Event)) error {
	var rec ringbuf.Record
	for {
		deadline := time.Now().Add(pollEvery)
		if ctx.Err() != nil {
			deadline = time.Now() // drain what is there, then stop
		}
		c.rd.SetDeadline(deadline)
		err := c.rd.ReadInto(&rec)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil:
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			continue
		case errors.Is(err, ringbuf.ErrClosed):
			return nil
		case err != nil:
			return fmt.Errorf("collector: reading ring buffer: %w", err)
		}
		ev, err := decode(rec.RawSample, c.window)
		if err != nil {
			return err
		}
		fn(ev)
	}
}

// decode reads a record; a window's calls go into buf.
func decode(b []byte, buf []uint32) (Event, error) {
	if len(b) < eventSize {
		return Event{}, fmt.Errorf("collector: %d-byte record, want at least %d", len(b), eventSize)
	}
	ev := Event{
		KtimeNs:  binary.LittleEndian.Uint64(b[0:]),
		CgroupID: binary.LittleEndian.Uint64(b[8:]),
		PID:      binary.LittleEndian.Uint32(b[16:]),
		Syscall:  binary.LittleEndian.Uint32(b[20:]),
		TID:      binary.LittleEndian.Uint32(b[24:]),
	}
	if binary.LittleEndian.Uint32(b[28:]) == kindWindow {
		n := int(ev.Syscall)
		if len(b) < windowSize || n > MaxWindow {
			return Event{}, fmt.Errorf("collector: window record of %d bytes with %d calls", len(b), n)
		}
		buf = buf[:0]
		for i := 0; i < n; i++ {
			buf = append(buf, uint32(binary.LittleEndian.Uint16(b[eventSize+2*i:])))
		}
		ev.Syscall, ev.Window = 0, buf
		return ev, nil
	}
	if len(b) >= execEventSize {
		path := b[eventSize:execEventSize]
		for i, ch := range path {
			if ch == 0 {
				path = path[:i]
				break
			}
		}
		ev.Path = string(path)
	}
	return ev, nil
}

// Close detaches the program and frees its maps; a Run in progress returns.
func (c *Collector) Close() error {
	var errs []error
	if c.rd != nil {
		errs = append(errs, c.rd.Close())
	}
	for _, l := range c.ends {
		errs = append(errs, l.Close())
	}
	errs = append(errs, c.link.Close(), c.objs.Close())
	return errors.Join(errs...)
}
