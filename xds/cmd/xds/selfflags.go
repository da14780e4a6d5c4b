package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshward/meshward/xds/server"
)

// selfFlags move the ADS port itself.
type selfFlags struct {
	pool          string
	recent        int
	every, jitter time.Duration
}

func (s *selfFlags) register(c *cobra.Command) {
	fs := c.Flags()
	fs.StringVar(&s.pool, "addr-pool", "", "addresses the ADS port moves among, in place of --addr: ADDRESS:PORT or ADDRESS:FROM-TO, comma-separated (at least 2 sockets)")
	fs.IntVar(&s.recent, "addr-recent", 0, "past ADS addresses never drawn again (default (pool-1)/2: at least half the others stay drawable)")
	fs.DurationVar(&s.every, "self-rotate-every", 0, "move the ADS port this often (0: only on POST /rotate-self); needs --addr-pool")
	fs.DurationVar(&s.jitter, "self-rotate-jitter", 0, "each gap is --self-rotate-every ± up to this much (crypto/rand)")
}

func (s selfFlags) rotation() (server.SelfRotation, error) {
	out := server.SelfRotation{Recent: s.recent, Every: s.every, Jitter: s.jitter}
	if s.pool == "" {
		if s.every != 0 || s.jitter != 0 || s.recent != 0 {
			return out, fmt.Errorf("--self-rotate-every, --self-rotate-jitter and --addr-recent need --addr-pool")
		}
		return out, nil
	}
	var err error
	if out.Pool, err = server.ParseAddrPool(s.pool); err != nil {
		return out, fmt.Errorf("--addr-pool: %w", err)
	}
	switch {
	case s.every < 0 || s.jitter < 0 || s.recent < 0:
		return out, fmt.Errorf("--self-rotate-every, --self-rotate-jitter and --addr-recent cannot be negative")
	case s.jitter >= s.every && s.every > 0:
		return out, fmt.Errorf("--self-rotate-jitter %v must be less than --self-rotate-every %v", s.jitter, s.every)
	case s.recent > len(out.Pool)-2:
		return out, fmt.Errorf("--addr-recent %d: at most %d for a pool of %d (one address must be left to move to)", s.recent, len(out.Pool)-2, len(out.Pool))
	}
	return out, nil
}

// printControlPlane shows where the ADS port is and how its last move went.
func printControlPlane(w io.Writer, cp *server.ControlPlaneStatus) {
	if cp == nil {
		return
	}
	fmt.Fprintf(w, "control plane on %s", cp.Address)
	if cp.Pool > 0 {
		fmt.Fprintf(w, " (pool of %d, epoch %d, announced %s)", cp.Pool, cp.Epoch, cp.Announced)
	}
	var on []string
	for _, a := range cp.Listening {
		on = append(on, fmt.Sprintf("%s: %d", a, cp.NodesOn[a]))
	}
	fmt.Fprintf(w, "; nodes on %s", strings.Join(on, ", "))
	if cp.Moving {
		fmt.Fprint(w, "; moving")
	}
	fmt.Fprintln(w)
	if m := cp.LastMove; m != nil {
		fmt.Fprintf(w, "  last move %s by %s: %s -> %s, %d of %d nodes reconnected in %.1f ms", m.At.Format(time.RFC3339),
			m.Trigger, m.From, m.To, m.Moved, m.Nodes, m.TookMS)
		if m.Lagging > 0 {
			fmt.Fprintf(w, ", %d never did: %s", m.Lagging, strings.Join(m.Laggards, ","))
		}
		fmt.Fprintln(w)
	}
	if cp.NextDue != nil {
		fmt.Fprintf(w, "  next move due %s\n", cp.NextDue.Format(time.RFC3339))
	}
}
