package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/meshward/meshward/extauthz/eaas/rpc"
	"github.com/meshward/meshward/internal/identity"
)

// Attack is one attacker's orders. An attacker runs as a process of its
// own, as it would in its own pod: its CPU is not the coordinator's, and
// the coordinator's process pays only for what it does with the flood.
type Attack struct {
	URL               string
	CA, Cert, Key     string // PEM files: the attacker's mesh identity
	Batch             string // file holding the batch it sends again and again
	Rate              float64
	Duration, Timeout time.Duration
	InFlight          int
}

// Args are the attacker's command-line flags.
func (a Attack) Args() []string {
	return []string{"-url", a.URL, "-ca", a.CA, "-cert", a.Cert, "-key", a.Key, "-batch", a.Batch,
		"-rate", fmt.Sprint(a.Rate), "-duration", a.Duration.String(), "-timeout", a.Timeout.String(),
		"-in-flight", fmt.Sprint(a.InFlight)}
}

// maxBatchFile bounds the batch an attacker reads.
const maxBatchFile = 64 << 20

func parseAttack(args []string) (Attack, error) {
	var a Attack
	fs := flag.NewFlagSet("attack", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&a.URL, "url", "", "coordinator's requester endpoints")
	fs.StringVar(&a.CA, "ca", "", "mesh CA (PEM)")
	fs.StringVar(&a.Cert, "cert", "", "attacker's certificate (PEM)")
	fs.StringVar(&a.Key, "key", "", "attacker's key (PEM)")
	fs.StringVar(&a.Batch, "batch", "", "file holding the batch to send")
	fs.Float64Var(&a.Rate, "rate", 0, "batches per second")
	fs.DurationVar(&a.Duration, "duration", 0, "how long")
	fs.DurationVar(&a.Timeout, "timeout", time.Second, "per request")
	fs.IntVar(&a.InFlight, "in-flight", 64, "requests open at most")
	if err := fs.Parse(args); err != nil {
		return a, fmt.Errorf("attack: %w", err)
	}
	if !strings.HasPrefix(a.URL, "https://127.") || a.Rate <= 0 || a.Duration <= 0 || a.InFlight < 1 {
		return a, errors.New("attack: want -url https://127.x.y.z:port, a positive -rate and -duration, -in-flight ≥ 1")
	}
	return a, nil
}

// RunAttacker is the attacker process (`eaas-bench attack ...`): it says
// "ready" on out, sends its batch at its rate, and writes what it got (a
// Result) as JSON.
func RunAttacker(ctx context.Context, args []string, out io.Writer) error {
	a, err := parseAttack(args)
	if err != nil {
		return err
	}
	tlsCfg, err := identity.LoadClientTLS(a.Cert, a.Key, a.CA)
	if err != nil {
		return err
	}
	batch, err := readBounded(a.Batch, maxBatchFile)
	if err != nil {
		return err
	}
	c := rpc.RequesterClient{Base: a.URL, HTTP: &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg,
		MaxIdleConnsPerHost: a.InFlight}}}
	send := func(ctx context.Context, _ int) error {
		_, err := c.Send(ctx, batch)
		return err
	}
	// Connections are opened before the attack: it measures a flood, not a
	// storm of handshakes at its start.
	var wg sync.WaitGroup
	for range a.InFlight {
		wg.Go(func() { _ = send(ctx, 0) })
	}
	wg.Wait()
	if _, err := fmt.Fprintln(out, "ready"); err != nil {
		return err
	}
	res := OpenLoop(ctx, a.Rate, a.Duration, a.Timeout, a.InFlight, send, attackClass)
	return json.NewEncoder(out).Encode(res)
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("%s: over %d bytes", path, limit)
	}
	return b, err
}

// spawnAttack starts an attacker process with command cmd and waits for
// it to be ready; wait returns what it got.
func spawnAttack(ctx context.Context, cmd []string, a Attack) (wait func() (Result, error), err error) {
	c := exec.CommandContext(ctx, cmd[0], append(cmd[1:len(cmd):len(cmd)], a.Args()...)...)
	c.Stderr = os.Stderr
	stdout, err := c.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("starting the attacker: %w", err)
	}
	r := bufio.NewReader(io.LimitReader(stdout, 1<<20))
	line, err := r.ReadString('\n')
	if err != nil || line != "ready\n" {
		_ = c.Wait()
		return nil, fmt.Errorf("the attacker did not start (%q, %v)", line, err)
	}
	return func() (Result, error) {
		var res Result
		derr := json.NewDecoder(r).Decode(&res)
		if err := c.Wait(); err != nil {
			return res, fmt.Errorf("attacker: %w", err)
		}
		return res, derr
	}, nil
}
