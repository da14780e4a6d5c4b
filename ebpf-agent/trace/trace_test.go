package trace

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReaders(t *testing.T) {
	adfa, err := ReadADFA(strings.NewReader("6 6 63 6 42\n120 6\n"), "a.txt")
	if err != nil || !reflect.DeepEqual(adfa.Syscalls, []uint32{6, 6, 63, 6, 42, 120, 6}) {
		t.Fatalf("adfa %v %v", adfa, err)
	}
	js, err := ReadJSONL(strings.NewReader(`{"pid":7,"syscall_num":0,"comm":"x"}
{"pid":9,"syscall_num":1}

{"pid":7,"syscall_num":2}
`), "e.jsonl")
	if err != nil || len(js) != 2 || js[0].ID != "e.jsonl#7" || !reflect.DeepEqual(js[0].Syscalls, []uint32{0, 2}) || !reflect.DeepEqual(js[1].Syscalls, []uint32{1}) {
		t.Fatalf("jsonl %+v %v", js, err)
	}
	var buf bytes.Buffer
	w, _ := NewWriter(&buf)
	for _, r := range []Record{{1, 5, 100, 100, 59}, {2, 5, 101, 101, 0}, {3, 5, 100, 100, 1}, {4, 5, 100, 102, 202}} {
		w.Write(r)
	}
	w.Flush()
	nat, err := ReadNative(bytes.NewReader(buf.Bytes()), "n.trace")
	if err != nil || len(nat) != 3 || !reflect.DeepEqual(nat[0].Syscalls, []uint32{59, 1}) || nat[2].ID != "n.trace#100/102" ||
		nat[2].PID != 100 || nat[2].TID != 102 || !reflect.DeepEqual(nat[2].Syscalls, []uint32{202}) {
		t.Fatalf("native %+v %v", nat, err)
	}
	// Version 1: no thread id, one trace per process.
	v1 := MagicV1 + string([]byte{1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 59, 0, 0, 0})
	if ts, err := ReadNative(strings.NewReader(v1), "v1"); err != nil || len(ts) != 1 || ts[0].PID != 7 || ts[0].TID != 7 || ts[0].Syscalls[0] != 59 {
		t.Fatalf("version 1: %+v %v", ts, err)
	}
	for _, tc := range []struct {
		name string
		read func() error
		want string
	}{
		{"adfa word", func() error { _, err := ReadADFA(strings.NewReader("1 2 x3"), "a"); return err }, `a: word 3: "x3" is not a syscall number`},
		{"adfa range", func() error { _, err := ReadADFA(strings.NewReader("70000"), "a"); return err }, "word 1"},
		{"jsonl syntax", func() error {
			_, err := ReadJSONL(strings.NewReader("{\"pid\":1,\"syscall_num\":1}\n{bad"), "e")
			return err
		}, "e:2: invalid character"},
		{"jsonl fields", func() error { _, err := ReadJSONL(strings.NewReader(`{"pid":1}`), "e"); return err }, `e:1: want fields "pid" and "syscall_num"`},
		{"jsonl range", func() error { _, err := ReadJSONL(strings.NewReader(`{"pid":1,"syscall_num":-1}`), "e"); return err }, "e:1: syscall_num -1 out of range"},
		{"native magic", func() error { _, err := ReadNative(strings.NewReader("nope"), "n"); return err }, "not a meshward trace"},
		{"native truncated", func() error { _, err := ReadNative(bytes.NewReader(buf.Bytes()[:len(buf.Bytes())-3]), "n"); return err }, "n: record 3 (offset 92): truncated"},
	} {
		if err := tc.read(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestLoadAuto(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("1 2 3"), 0o600)
	os.WriteFile(filepath.Join(dir, "sub", "b.jsonl"), []byte(`{"pid":1,"syscall_num":4}`+"\n"), 0o600)
	var buf bytes.Buffer
	w, _ := NewWriter(&buf)
	w.Write(Record{PID: 3, Syscall: 5})
	w.Flush()
	os.WriteFile(filepath.Join(dir, "c.trace"), buf.Bytes(), 0o600)
	ts, err := Load([]string{dir}, Auto)
	if err != nil || len(ts) != 3 {
		t.Fatalf("%+v %v", ts, err)
	}
	got := []uint32{ts[0].Syscalls[0], ts[1].Syscalls[0], ts[2].Syscalls[0]}
	if !reflect.DeepEqual(got, []uint32{1, 5, 4}) { // a.txt, c.trace, sub/b.jsonl
		t.Fatalf("first syscalls %v", got)
	}
	if _, err := ParseFormat("csv"); err == nil {
		t.Fatal("csv accepted")
	}
}

func FuzzReadADFA(f *testing.F) {
	f.Add([]byte("6 6 63\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := ReadADFA(bytes.NewReader(b), "fuzz")
		if err == nil {
			for _, s := range tr.Syscalls {
				if s >= maxSyscall {
					t.Fatalf("accepted syscall %d", s)
				}
			}
		} else if !strings.HasPrefix(err.Error(), "fuzz") {
			t.Fatalf("error does not say where: %v", err)
		}
	})
}

func FuzzReadJSONL(f *testing.F) {
	f.Add([]byte(`{"pid":1,"syscall_num":2}` + "\n" + `{"pid":3,"syscall_num":4}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := ReadJSONL(bytes.NewReader(b), "fuzz"); err != nil && !strings.HasPrefix(err.Error(), "fuzz") {
			t.Fatalf("error does not say where: %v", err)
		}
	})
}

func FuzzReadNative(f *testing.F) {
	f.Add([]byte(Magic + strings.Repeat("\x00", 28)))
	f.Add([]byte(MagicV1 + strings.Repeat("\x00", 24)))
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, err := ReadNative(bytes.NewReader(b), "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz") {
				t.Fatalf("error does not say where: %v", err)
			}
			return
		}
		n := 0
		for _, tr := range ts {
			n += len(tr.Syscalls)
		}
		size := recordSize
		if string(b[:len(MagicV1)]) == MagicV1 {
			size = recordSizeV1
		}
		if len(b) != len(Magic)+n*size {
			t.Fatalf("%d bytes but %d records", len(b), n)
		}
	})
}
