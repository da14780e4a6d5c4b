package agent

import (
	"errors"
	"fmt"
)

// Sync makes the watched set what ws says: new containers are watched (their
// profiles restored, succeeded or new), gone ones are unmonitored and their
// profiles saved, and a container whose image changed saves its old version
// and goes on from it as a successor. It is safe to call while Run reads.
func (a *Agent) Sync(ws []Workload) error {
	want := make(map[uint64]Workload, len(ws))
	for _, w := range ws {
		want[w.CgroupID] = w
	}
	a.state.Lock()
	defer a.state.Unlock()
	var errs []error
	gone := map[string]*watched{} // by container: an image update succeeds from memory
	for id, c := range a.byCgroup {
		w, keep := want[id]
		if keep && w == c.w {
			continue
		}
		if err := a.unwatch(c); err != nil {
			errs = append(errs, err)
		}
		delete(a.byCgroup, id)
		gone[c.w.Container] = c
	}
	for id, w := range want {
		if _, ok := a.byCgroup[id]; ok {
			continue
		}
		var prev *watched
		if g := gone[w.Container]; g != nil && g.w.Image != w.Image {
			prev = g
		}
		c, err := a.watch(w, prev)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		a.byCgroup[id] = c
	}
	return errors.Join(errs...)
}

// Watched lists the containers being watched.
func (a *Agent) Watched() []Workload {
	a.state.Lock()
	defer a.state.Unlock()
	out := make([]Workload, 0, len(a.byCgroup))
	for _, c := range a.byCgroup {
		out = append(out, c.w)
	}
	return out
}

func (a *Agent) unwatch(c *watched) error {
	if a.saver != nil && c.dirty {
		a.save(c, true) // the next version, or the next start, goes on from here
	}
	a.log.Info().Str("workload", c.w.Identity).Str("container", c.w.Container).Str("image", c.w.Image).Msg("no longer watching")
	a.m.phase.DeleteLabelValues(c.w.Identity, c.w.Container)
	a.m.ngrams.DeleteLabelValues(c.w.Identity, c.w.Container)
	if err := a.src.Unmonitor(c.w.CgroupID); err != nil {
		return fmt.Errorf("agent: unmonitoring %s: %w", c.w.CgroupDir, err)
	}
	return nil
}
