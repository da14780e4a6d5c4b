package system

import (
	"os"
	"runtime"
	"strconv"
	"syscall"
)

// SteadyEnv makes a program that calls RunSteady at its start the frontend
// container's steady work: N rounds of reading a file and asking for its
// parent, as a small single-threaded service would.
const SteadyEnv = "MESHWARD_STEADY_ROUNDS"

// RunSteady does the steady work if SteadyEnv asks for it, and then exits;
// otherwise it returns at once.
func RunSteady() {
	n, err := strconv.Atoi(os.Getenv(SteadyEnv))
	if err != nil {
		return
	}
	runtime.LockOSThread() // one thread does the work; the runtime's own threads are what they are
	buf := make([]byte, 64)
	for i := 0; i < n; i++ {
		fd, err := syscall.Open("/etc/hostname", syscall.O_RDONLY, 0)
		if err != nil {
			os.Exit(1)
		}
		syscall.Read(fd, buf)
		syscall.Close(fd)
		syscall.Getppid()
	}
	os.Exit(0)
}

// LearnSteady has the frontend's container do its steady work in several
// lives of the program self (which calls RunSteady first): start-ups vary
// (package init, GC timing), so a profile learns them over a few.
func (s *System) LearnSteady(self string, lives, rounds int) error {
	for i := 0; i < lives; i++ {
		if err := s.RunInFrontendEnv([]string{SteadyEnv + "=" + strconv.Itoa(rounds), "GOMAXPROCS=1"}, self); err != nil {
			return err
		}
	}
	return nil
}
