package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshward/meshward/ebpf-agent/cgroups"
	"github.com/meshward/meshward/ebpf-agent/evaluation"
	"github.com/meshward/meshward/ebpf-agent/trace"
)

const childEnv = "MESHWARD_RECORD_CHILD"

func TestMain(m *testing.M) {
	if n, err := strconv.Atoi(os.Getenv(childEnv)); err == nil {
		time.Sleep(200 * time.Millisecond) // let the recorder attach
		for i := 0; i < n; i++ {
			syscall.Getppid()
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func writeADFA(t *testing.T, dir, name string, calls []uint32) {
	t.Helper()
	var b strings.Builder
	for _, c := range calls {
		fmt.Fprintf(&b, "%d ", c)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestEvalCommand(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"train", "normal", "attack"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	loop := func(n int) []uint32 {
		var s []uint32
		for i := 0; i < n; i++ {
			s = append(s, 0, 1, 3, 45, 232, 1, 0)
		}
		return s
	}
	writeADFA(t, filepath.Join(dir, "train"), "t1", loop(100))
	writeADFA(t, filepath.Join(dir, "normal"), "n1", loop(40))
	writeADFA(t, filepath.Join(dir, "attack"), "a1", append(loop(3), 59, 33, 33, 2, 0, 1, 59, 41, 42, 0, 59, 56, 61, 11, 12))
	c := evalCmd()
	var out bytes.Buffer
	c.SetOut(&out)
	c.SetArgs([]string{"--train", filepath.Join(dir, "train"), "--normal", filepath.Join(dir, "normal"),
		"--attack", filepath.Join(dir, "attack"), "--format", "adfa", "--window", "14", "--ngram", "3"})
	if err := c.Execute(); err != nil {
		t.Fatal(err)
	}
	var r evaluation.Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if r.Trace.TP != 1 || r.Trace.TN != 1 || r.Trace.AUC != 1 || r.Window.FP != 0 || r.Model.TrainTraces != 1 {
		t.Fatalf("result %+v", r)
	}
	for _, key := range []string{`"window"`, `"trace"`, `"precision"`, `"recall"`, `"f1"`, `"auc"`} {
		if !strings.Contains(out.String(), key) {
			t.Fatalf("output lacks %s", key)
		}
	}
	c = evalCmd()
	c.SetArgs([]string{"--train", dir, "--format", "csv"})
	c.SetOut(&bytes.Buffer{})
	c.SetErr(&bytes.Buffer{})
	if err := c.Execute(); err == nil || !strings.Contains(err.Error(), `format "csv"`) {
		t.Fatalf("bad format: %v", err)
	}
}

// record writes every system call of a process in the cgroup to a native
// trace that eval's reader reads back.
func TestRecordCommand(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load eBPF programs and make cgroups (CI runs as root)")
	}
	dir, _, err := cgroups.Create(fmt.Sprintf("meshward-record-test-%d", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	defer cgroups.Remove(dir)
	out := filepath.Join(t.TempDir(), "rec.trace")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	counted := make(chan int, 1)
	go func() {
		n, err := record(ctx, dir, out)
		counted <- n
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	cg, err := cgroups.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=5000")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	n := <-counted
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ts, err := trace.Read(out, trace.Auto)
	if err != nil {
		t.Fatal(err)
	}
	getppid := 0
	for _, tr := range ts {
		for _, s := range tr.Syscalls {
			if s == 110 {
				getppid++
			}
		}
	}
	t.Logf("%d calls recorded, %d getppid", n, getppid)
	if getppid != 5000 {
		t.Fatalf("%d getppid in the trace, want 5000", getppid)
	}
}

// split writes one ADFA file per process of a native recording, leaving out
// the excluded pids and the short traces; eval reads them back the same.
func TestSplitCommand(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "session.trace")
	f, _ := os.Create(rec)
	w, _ := trace.NewWriter(f)
	for i, r := range []trace.Record{{PID: 10, Syscall: 0}, {PID: 11, Syscall: 59}, {PID: 10, Syscall: 1}, {PID: 12, Syscall: 3},
		{PID: 10, Syscall: 3}, {PID: 11, Syscall: 12}, {PID: 11, Syscall: 9}} {
		r.KtimeNs, r.TID = uint64(i), r.PID
		w.Write(r)
	}
	w.Flush()
	f.Close()
	out := filepath.Join(dir, "out")
	c := splitCmd()
	c.SetErr(new(bytes.Buffer))
	c.SetArgs([]string{"--out", out, "--exclude-pid", "11", "--min", "2", rec})
	if err := c.Execute(); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(out)
	if len(ents) != 1 || ents[0].Name() != "session-10.txt" { // 11 excluded, 12 too short
		t.Fatalf("wrote %v", ents)
	}
	ts, err := trace.Load([]string{out}, trace.Auto)
	if err != nil || len(ts) != 1 || fmt.Sprint(ts[0].Syscalls) != "[0 1 3]" {
		t.Fatalf("read back %+v %v", ts, err)
	}
	c = splitCmd()
	c.SetErr(new(bytes.Buffer))
	c.SetArgs([]string{"--out", out, filepath.Join(dir, "missing.trace")})
	if err := c.Execute(); err == nil {
		t.Fatal("split of a missing file succeeded")
	}
}
