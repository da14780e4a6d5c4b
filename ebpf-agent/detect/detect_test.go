package detect

import "testing"

func TestShellExec(t *testing.T) {
	r := NewShellExec()
	steps := []struct {
		name string
		call Call
		want bool
	}{
		{"plain syscall", Call{Workload: "a", Syscall: 0}, false},
		{"exec of a binary", Call{Workload: "a", Syscall: sysExecve, Path: "/usr/bin/nginx"}, false},
		{"shell-like name", Call{Workload: "a", Syscall: sysExecve, Path: "/usr/bin/shasum"}, false},
		{"exec of sh", Call{Workload: "a", PID: 42, Syscall: sysExecve, Path: "/bin/sh"}, true},
		{"second shell, same workload", Call{Workload: "a", Syscall: sysExecve, Path: "/bin/bash"}, false},
		{"execveat of bash, other workload", Call{Workload: "b", Syscall: sysExecveat, Path: "/usr/bin/bash"}, true},
	}
	for _, s := range steps {
		f, got := r.Observe(s.call)
		if got != s.want {
			t.Fatalf("%s: flagged=%v, want %v", s.name, got, s.want)
		}
		if got && (f.Workload != s.call.Workload || f.Reason != "exec-shell" || f.Score != 1) {
			t.Fatalf("%s: finding %+v", s.name, f)
		}
	}
	f, _ := NewShellExec().Observe(Call{Workload: "a", PID: 42, Syscall: sysExecve, Path: "/bin/sh"})
	if len(f.Evidence) != 1 || f.Evidence[0] != "pid 42 executed /bin/sh" {
		t.Fatalf("evidence %q", f.Evidence)
	}
	r.Reset("a")
	if _, got := r.Observe(Call{Workload: "a", Syscall: sysExecve, Path: "/bin/sh"}); !got {
		t.Fatal("a reset workload is flagged again")
	}
}
