package agent

import (
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/ebpf-agent/detect"
	"github.com/meshward/meshward/ebpf-agent/profile"
)

// Store keeps encoded profiles by container and version (store.Store).
type Store interface {
	Save(container, version string, profile []byte) error
	Load(container, version string) ([]byte, error)
	Latest(container string) (version string, profile []byte, err error)
}

// watched is one container: its profile and alarm belong to the reader loop.
type watched struct {
	w     Workload
	prof  *profile.Profile
	alarm *detect.Anomaly
	m     workloadMetrics
	dirty bool // learned since last saved
}

// openProfile finds a container's profile: its own version's from the
// store (an agent restart), else its previous version's as a successor (an
// image update), else a new one that learns first. A stored profile that
// cannot be read is logged and replaced, never fatal.
func openProfile(st Store, cfg profile.Config, w Workload, log zerolog.Logger) (*profile.Profile, string) {
	if st == nil {
		return profile.New(cfg), "new"
	}
	b, err := st.Load(w.Container, w.Image)
	if err == nil && b != nil {
		p, err := profile.Decode(b, cfg)
		if err == nil {
			return p, "restored"
		}
		log.Error().Err(err).Str("container", w.Container).Str("image", w.Image).Msg("stored profile unreadable: learning anew")
		return profile.New(cfg), "new"
	}
	if err != nil {
		log.Error().Err(err).Str("container", w.Container).Msg("profile store")
		return profile.New(cfg), "new"
	}
	prev, b, err := st.Latest(w.Container)
	if err != nil || b == nil {
		return profile.New(cfg), "new"
	}
	p, err := profile.Decode(b, cfg)
	if err != nil {
		log.Error().Err(err).Str("container", w.Container).Str("image", prev).Msg("previous version's profile unreadable: learning anew")
		return profile.New(cfg), "new"
	}
	return p.Successor(), "successor of " + prev
}

// tick is the reader loop's housekeeping, driven by the events' own clock:
// changed profiles go to the saver, streams of processes that died without
// exit_group (a SIGKILL) are dropped, gauges are set.
func (a *Agent) tick(now uint64) {
	a.nextTick = now + uint64(a.opts.SaveEvery)
	for _, c := range a.byCgroup {
		c.prof.Prune(alive)
		c.m.ngrams.Set(float64(c.prof.NGrams()))
		if c.prof.Phase() == profile.Detecting {
			c.m.phase.Set(1)
		}
		if a.saver != nil && c.dirty {
			a.save(c, false)
		}
	}
}

func alive(pid uint32) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

func (a *Agent) save(c *watched, wait bool) {
	b, err := c.prof.MarshalBinary()
	if err != nil {
		a.m.saves.WithLabelValues("failed").Inc()
		return
	}
	if a.saver.put(job{container: c.w.Container, version: c.w.Image, b: b}, wait) {
		c.dirty = false
	}
}

func (a *Agent) saveAll() {
	for _, c := range a.byCgroup {
		if c.dirty {
			a.save(c, true)
		}
	}
}

// saver writes profiles off the reader loop: a disk that stalls must not
// stall collection.
type saver struct {
	st   Store
	m    *metrics
	log  zerolog.Logger
	jobs chan job
	done chan struct{}
}

type job struct {
	container, version string
	b                  []byte
	flushed            chan struct{} // a barrier, not a save: closed once reached
}

func newSaver(st Store, m *metrics, log zerolog.Logger) *saver {
	s := &saver{st: st, m: m, log: log, jobs: make(chan job, 64), done: make(chan struct{})}
	go s.loop()
	return s
}

// put queues a save; without wait it gives up when the queue is full (the
// profile stays dirty and is tried again at the next tick).
func (s *saver) put(j job, wait bool) bool {
	if wait {
		s.jobs <- j
		return true
	}
	select {
	case s.jobs <- j:
		return true
	default:
		return false
	}
}

func (s *saver) loop() {
	defer close(s.done)
	for j := range s.jobs {
		if j.flushed != nil {
			close(j.flushed)
			continue
		}
		start := time.Now()
		if err := s.st.Save(j.container, j.version, j.b); err != nil {
			s.m.saves.WithLabelValues("failed").Inc()
			s.log.Error().Err(err).Str("container", j.container).Msg("profile not saved")
			continue
		}
		s.m.saves.WithLabelValues("saved").Inc()
		s.log.Debug().Str("container", j.container).Str("image", j.version).Int("bytes", len(j.b)).
			Dur("took", time.Since(start)).Msg("profile saved")
	}
}

// flush waits for the saves queued so far.
func (s *saver) flush() {
	done := make(chan struct{})
	s.jobs <- job{flushed: done}
	<-done
}

// close waits for the queued saves and stops.
func (s *saver) close() {
	close(s.jobs)
	<-s.done
}
