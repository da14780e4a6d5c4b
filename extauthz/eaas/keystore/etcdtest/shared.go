package etcdtest

import (
	"errors"
	"os"
	"sync"
	"testing"
)

// Shared is one etcd for a whole test package: started by the first test
// that asks for it, stopped by Close (call it from TestMain after m.Run).
type Shared struct {
	once sync.Once
	srv  *Server
	dir  string
	err  error
}

// Get returns the package's etcd, skipping the test when etcd is not
// installed.
func (s *Shared) Get(t testing.TB) *Server {
	t.Helper()
	s.once.Do(func() {
		if s.dir, s.err = os.MkdirTemp("", "meshward-etcd-"); s.err == nil {
			s.srv, s.err = Start(s.dir)
		}
	})
	if errors.Is(s.err, ErrMissing) {
		t.Skip("etcd is not installed (make etcd installs Debian's etcd-server)")
	}
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.srv
}

// Close stops the etcd and removes its data.
func (s *Shared) Close() {
	if s.srv != nil {
		s.srv.Kill()
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}
