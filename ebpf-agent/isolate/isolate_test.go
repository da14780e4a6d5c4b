package isolate

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/meshward/meshward/ebpf-agent/cgroups"
)

// dialEnv makes the test binary a container process that connects once and
// exits 0 on success, 3 when refused.
const dialEnv = "MESHWARD_ISOLATE_DIAL"

func TestMain(m *testing.M) {
	if addr := os.Getenv(dialEnv); addr != "" {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			os.Exit(3)
		}
		c.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func dialFrom(t *testing.T, dir, addr string) bool {
	t.Helper()
	cg, err := cgroups.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), dialEnv+"="+addr)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 3 {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

func listen(t *testing.T, network, addr string) string {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().String()
}

// An isolated cgroup cannot connect but to its allow list; another cgroup is
// untouched; releasing the cgroup restores it.
func TestIsolation(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to attach cgroup eBPF programs (CI runs as root)")
	}
	iso, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer iso.Close()
	flagged, _, err := cgroups.Create(fmt.Sprintf("meshward-isolate-a-%d", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	defer cgroups.Remove(flagged)
	other, _, err := cgroups.Create(fmt.Sprintf("meshward-isolate-b-%d", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	defer cgroups.Remove(other)

	victim := listen(t, "tcp4", "127.0.0.1:0")
	control := listen(t, "tcp4", "127.0.0.1:0")
	victim6 := listen(t, "tcp6", "[::1]:0")
	ap := netip.MustParseAddrPort(control)
	if err := iso.Allow(ap.Addr(), ap.Port()); err != nil {
		t.Fatal(err)
	}
	if !dialFrom(t, flagged, victim) {
		t.Fatal("refused before isolation")
	}
	if err := iso.Isolate(flagged); err != nil {
		t.Fatal(err)
	}
	if dialFrom(t, flagged, victim) || dialFrom(t, flagged, victim6) {
		t.Fatal("the isolated cgroup connected to a host not on the allow list")
	}
	if !dialFrom(t, flagged, control) {
		t.Fatal("the isolated cgroup could not reach its allow list")
	}
	if !dialFrom(t, other, victim) || !dialFrom(t, other, victim6) {
		t.Fatal("another cgroup was isolated too")
	}
	if n, err := iso.Denied(); err != nil || n != 2 {
		t.Fatalf("denied counter %d (%v), want 2", n, err)
	}
	if err := iso.Release(flagged); err != nil {
		t.Fatal(err)
	}
	if !dialFrom(t, flagged, victim) {
		t.Fatal("still refused after release")
	}
}
