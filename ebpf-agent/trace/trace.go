// Package trace reads and writes system-call traces: the ADFA-LD format (one
// trace per file, syscall numbers separated by white space), JSON lines (at
// least "pid" and "syscall_num"; one trace per pid, pids interleaved), and
// the agent's own record format. Every reader reports where input is bad.
package trace

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// Trace is the syscalls of one process, in order.
type Trace struct {
	ID       string // file, or file#pid
	PID      int64  // the process, where the format names one
	TID      int64  // the thread, where the format names one
	Syscalls []uint32
}

// Format names an input format.
type Format string

const (
	Auto   Format = "auto"
	ADFA   Format = "adfa"
	JSONL  Format = "jsonl"
	Native Format = "native"
)

// ParseFormat checks a --format value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case Auto, ADFA, JSONL, Native:
		return f, nil
	}
	return "", fmt.Errorf("format %q: want auto, adfa, jsonl or native", s)
}

// maxSyscall bounds syscall numbers: anything larger is not a syscall.
const maxSyscall = 1 << 16

// ReadADFA reads one trace: syscall numbers separated by white space.
func ReadADFA(r io.Reader, name string) (Trace, error) {
	t := Trace{ID: name}
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	s.Split(bufio.ScanWords)
	for i := 1; s.Scan(); i++ {
		n, err := strconv.ParseUint(s.Text(), 10, 32)
		if err != nil || n >= maxSyscall {
			return Trace{}, fmt.Errorf("%s: word %d: %q is not a syscall number", name, i, truncate(s.Text()))
		}
		t.Syscalls = append(t.Syscalls, uint32(n))
	}
	if err := s.Err(); err != nil {
		return Trace{}, fmt.Errorf("%s: %w", name, err)
	}
	return t, nil
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

type jsonEvent struct {
	PID        *int64 `json:"pid"`
	SyscallNum *int64 `json:"syscall_num"`
}

// ReadJSONL reads JSON lines, one trace per pid, in order of first appearance.
func ReadJSONL(r io.Reader, name string) ([]Trace, error) {
	byPID := map[int64]*Trace{}
	var order []int64
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; s.Scan(); line++ {
		b := bytes.TrimSpace(s.Bytes())
		if len(b) == 0 {
			continue
		}
		var e jsonEvent
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, line, err)
		}
		switch {
		case e.PID == nil || e.SyscallNum == nil:
			return nil, fmt.Errorf("%s:%d: want fields \"pid\" and \"syscall_num\"", name, line)
		case *e.SyscallNum < 0 || *e.SyscallNum >= maxSyscall:
			return nil, fmt.Errorf("%s:%d: syscall_num %d out of range", name, line, *e.SyscallNum)
		}
		t, ok := byPID[*e.PID]
		if !ok {
			t = &Trace{ID: fmt.Sprintf("%s#%d", name, *e.PID), PID: *e.PID}
			byPID[*e.PID] = t
			order = append(order, *e.PID)
		}
		t.Syscalls = append(t.Syscalls, uint32(*e.SyscallNum))
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	out := make([]Trace, len(order))
	for i, pid := range order {
		out[i] = *byPID[pid]
	}
	return out, nil
}

// Magic starts the agent's record format (version 2); each record after it
// is 28 bytes, little-endian: monotonic ns (u64), cgroup id (u64), pid (u32),
// thread id (u32), syscall (u32). MagicV1 files (24-byte records, no thread
// id) are still read.
const (
	Magic   = "MWTRACE2"
	MagicV1 = "MWTRACE1"
)

// Record is one event of the native format.
type Record struct {
	KtimeNs  uint64
	CgroupID uint64
	PID      uint32
	TID      uint32
	Syscall  uint32
}

const (
	recordSize   = 28
	recordSizeV1 = 24
)

// Writer writes the native format.
type Writer struct {
	w   *bufio.Writer
	buf [recordSize]byte
}

// NewWriter starts a native trace.
func NewWriter(w io.Writer) (*Writer, error) {
	bw := bufio.NewWriter(w)
	if _, err := bw.WriteString(Magic); err != nil {
		return nil, err
	}
	return &Writer{w: bw}, nil
}

// Write adds one record.
func (w *Writer) Write(r Record) error {
	binary.LittleEndian.PutUint64(w.buf[0:], r.KtimeNs)
	binary.LittleEndian.PutUint64(w.buf[8:], r.CgroupID)
	binary.LittleEndian.PutUint32(w.buf[16:], r.PID)
	binary.LittleEndian.PutUint32(w.buf[20:], r.TID)
	binary.LittleEndian.PutUint32(w.buf[24:], r.Syscall)
	_, err := w.w.Write(w.buf[:])
	return err
}

// Flush writes what is buffered.
func (w *Writer) Flush() error { return w.w.Flush() }

// ReadNative reads the native format, one trace per thread (per process in
// version 1 files, which name no thread).
func ReadNative(r io.Reader, name string) ([]Trace, error) {
	br := bufio.NewReader(r)
	head := make([]byte, len(Magic))
	_, err := io.ReadFull(br, head)
	size := 0
	switch {
	case err != nil:
	case string(head) == Magic:
		size = recordSize
	case string(head) == MagicV1:
		size = recordSizeV1
	}
	if size == 0 {
		return nil, fmt.Errorf("%s: not a meshward trace (no %q header)", name, Magic)
	}
	byTID := map[uint32]*Trace{}
	var order []uint32
	rec := make([]byte, size)
	for n := 0; ; n++ {
		_, err := io.ReadFull(br, rec)
		if errors.Is(err, io.EOF) {
			break
		}
		off := len(Magic) + n*size
		if err != nil {
			return nil, fmt.Errorf("%s: record %d (offset %d): truncated", name, n, off)
		}
		pid, tid, nr := binary.LittleEndian.Uint32(rec[16:]), binary.LittleEndian.Uint32(rec[20:]), binary.LittleEndian.Uint32(rec[size-4:])
		if size == recordSizeV1 {
			tid = pid
		}
		if nr >= maxSyscall {
			return nil, fmt.Errorf("%s: record %d (offset %d): syscall %d out of range", name, n, off, nr)
		}
		t, ok := byTID[tid]
		if !ok {
			t = &Trace{ID: fmt.Sprintf("%s#%d", name, tid), PID: int64(pid), TID: int64(tid)}
			if tid != pid {
				t.ID = fmt.Sprintf("%s#%d/%d", name, pid, tid)
			}
			byTID[tid] = t
			order = append(order, tid)
		}
		t.Syscalls = append(t.Syscalls, nr)
	}
	out := make([]Trace, len(order))
	for i, tid := range order {
		out[i] = *byTID[tid]
	}
	return out, nil
}

// Sniff tells the format of a file from its first bytes.
func Sniff(head []byte) Format {
	if bytes.HasPrefix(head, []byte(Magic)) || bytes.HasPrefix(head, []byte(MagicV1)) {
		return Native
	}
	if b := bytes.TrimSpace(head); len(b) > 0 && b[0] == '{' {
		return JSONL
	}
	return ADFA
}

// Read reads one file in format f (Auto: sniffed).
func Read(path string, f Format) ([]Trace, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if f == Auto {
		f = Sniff(data[:min(len(data), 64)])
	}
	switch f {
	case Native:
		return ReadNative(bytes.NewReader(data), path)
	case JSONL:
		return ReadJSONL(bytes.NewReader(data), path)
	}
	t, err := ReadADFA(bytes.NewReader(data), path)
	if err != nil {
		return nil, err
	}
	return []Trace{t}, nil
}

// Load reads files and folders (recursively, in name order).
func Load(paths []string, f Format) ([]Trace, error) {
	var out []Trace
	for _, p := range paths {
		files, err := listFiles(p)
		if err != nil {
			return nil, err
		}
		for _, file := range files {
			ts, err := Read(file, f)
			if err != nil {
				return nil, err
			}
			out = append(out, ts...)
		}
	}
	return out, nil
}

func listFiles(p string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name()[0] != '.' {
			files = append(files, path)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// WriteADFA writes t in the ADFA-LD format: its syscall numbers separated by
// spaces, so that a recording can be shared one trace per file.
func WriteADFA(w io.Writer, t Trace) error {
	bw := bufio.NewWriter(w)
	for i, s := range t.Syscalls {
		if i > 0 {
			bw.WriteByte(' ')
		}
		bw.WriteString(strconv.FormatUint(uint64(s), 10))
	}
	bw.WriteByte('\n')
	return bw.Flush()
}
