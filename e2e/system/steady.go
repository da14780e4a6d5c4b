package system

import "strconv"

// LearnSteady has the frontend's container do its steady work, a small
// single-threaded service's loop, in several lives: dd copying a byte at a
// time (a read and a write per byte, from coreutils, which every Debian
// has), rounds bytes per life. Its start-up (the dynamic loader) is learned
// over the lives.
func (s *System) LearnSteady(lives, rounds int) error {
	for i := 0; i < lives; i++ {
		if err := s.RunInFrontend("/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count="+strconv.Itoa(rounds), "status=none"); err != nil {
			return err
		}
	}
	return nil
}
