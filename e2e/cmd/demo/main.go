// Command demo runs the whole meshward system on 127.0.0.1 and prints each
// step in one line: who called what, allowed or denied, and why.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/meshward/meshward/api/check"
	"github.com/meshward/meshward/e2e/system"
	"github.com/meshward/meshward/extauthz/quarantine"
)

func main() {
	wasm := flag.String("wasm", "build/meshward-filter.wasm", "the filter that `make wasm` built")
	verbose := flag.Bool("v", false, "also print the components' JSON logs")
	flag.Parse()
	if os.Getenv(system.BootstrapEnv) == "" {
		os.Exit(reexec())
	}
	if err := run(*wasm, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

// reexec runs this program again with grpc-go's xDS bootstrap variable set:
// grpc-go reads it only when the process starts.
func reexec() int {
	dir, err := os.MkdirTemp("", "meshward-demo-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), system.BootstrapEnv+"="+filepath.Join(dir, "xds-bootstrap.json"))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

var names = map[string]string{system.Frontend: "frontend", system.Catalog: "catalog", system.Orders: "orders"}

func run(wasm string, verbose bool) error {
	ctx := context.Background()
	log := zerolog.Nop()
	if verbose {
		log = zerolog.New(os.Stderr).With().Timestamp().Logger()
	}
	fmt.Println("meshward demo: every component on 127.0.0.1")
	start := time.Now()
	// One compilation of the filter for the systems the steps start.
	cache, err := os.MkdirTemp("", "meshward-demo-wazero-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cache)
	s, err := system.Start(ctx, system.Options{WasmPath: wasm, CacheDir: cache, Log: log})
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Printf("  up in %v: authorizer (ext_authz gRPC %s, HTTP check %s); orders behind its sidecar %s running %s in wazero\n",
		time.Since(start).Round(time.Millisecond), s.Authz.GRPCAddr, s.Authz.HTTPAddr, s.Sidecar.Addr, wasm)

	step := 0
	call := func(from, method, path, note string) error {
		step++
		r, err := s.Call(ctx, from, method, path)
		if err != nil {
			return err
		}
		verdict, why := "ALLOWED", strings.TrimSpace(r.Body) // orders echoes the rule the filter passed on
		if r.Status == 403 {
			verdict, why = "DENIED ", "reason "+r.Reason
		}
		fmt.Printf("%d. %-8s -> orders  %-6s %-11s %d %s (%s)%s\n", step, names[from], method, path, r.Status, verdict, why, note)
		return nil
	}
	if err := call(system.Frontend, "GET", "/orders/42", ""); err != nil {
		return err
	}
	if err := call(system.Frontend, "DELETE", "/orders/42", ": method not allowed"); err != nil {
		return err
	}
	if err := call(system.Catalog, "GET", "/orders/42", ": lateral hop, no rule"); err != nil {
		return err
	}
	if err := call(system.Frontend, "GET", "/orders/../admin", ": the sidecar and the authorizer judge /admin"); err != nil {
		return err
	}
	step++
	forged, err := s.ForgeCheck(ctx, system.Catalog, check.Request{SourcePrincipal: system.Frontend, Destination: system.Orders,
		Method: "GET", Path: "/orders/42", DestinationLabels: map[string]string{"app": "orders"}})
	if err != nil {
		return err
	}
	fmt.Printf("%d. catalog  -> authorizer: a check forged in frontend's name about orders, with catalog's mesh certificate: allow=%v (reason %s)\n",
		step, forged.Allow, forged.Reason)

	step++
	rep, err := system.RotateMany(ctx, system.RotateOptions{Rotations: 30, Ports: 6, Addresses: 4, Workers: 2, Pause: 20 * time.Millisecond})
	if err != nil {
		return fmt.Errorf("xds: %w", err)
	}
	fmt.Printf("%d. xds      moved orders %d times under load, each to a port and an address drawn from its pools (5 ports, 3 addresses),\n"+
		"            make-before-break: grpc-go's xDS clients followed every move (%v each until all acknowledged); %d calls on %d sockets, %d failed; now on %s\n",
		step, rep.Rotations, rep.MeanMove.Round(time.Microsecond), rep.Calls, rep.Sockets, rep.Failed, rep.Final)
	if err := reconStep(ctx, system.Options{WasmPath: wasm, CacheDir: cache, Log: log}); err != nil {
		return fmt.Errorf("recon: %w", err)
	}

	if err := eaasStep(ctx, wasm, log, &step); err != nil {
		return err
	}
	return verdictSteps(ctx, s, &step, call)
}

func verdictSteps(ctx context.Context, s *system.System, step *int, call func(string, string, string, string) error) error {
	*step++
	if err := s.StartAgent(ctx); errors.Is(err, system.ErrNeedsRoot) {
		fmt.Printf("%d. skipped: %v; run `sudo make demo` for the eBPF steps\n", *step, err)
		return nil
	} else if err != nil {
		return err
	}
	learn := time.Now()
	// The agent's default learning period, 2,000 windows: 12 runs of the
	// frontend's steady work give it in well under a second.
	if err := s.LearnSteady(12, 10000); err != nil {
		return err
	}
	learnt := time.Since(learn)
	dropped, err := dropPerl()
	if err != nil {
		return err
	}
	defer os.Remove(dropped)
	exec := time.Now()
	_ = s.RunInFrontend(dropped, "-e", `open(F, "</etc/passwd"); my @u = <F>; opendir(D, "/proc"); my @p = readdir(D);`)
	e, err := awaitQuarantine(s, 2*time.Second)
	if err != nil {
		return err
	}
	fmt.Printf("%d. frontend's container learned its own work (12 runs, %v), then ran a dropped binary (a copy of perl; no shell):\n"+
		"   the eBPF agent's verdict (%s, score %.2f: %s) reached the authorizer over gRPC %v later\n",
		*step, learnt.Round(time.Millisecond), e.Reason, e.Score, e.Evidence[0], e.Since.Sub(exec).Round(time.Millisecond))
	// The filter may still hold the frontend's earlier allow in its decision
	// cache; its next epoch poll drops it. Call until the denial arrives.
	for time.Since(exec) < 2*time.Second {
		r, err := s.Call(ctx, system.Frontend, "GET", "/orders/42")
		if err != nil {
			return err
		}
		if r.Status == 403 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := call(system.Frontend, "GET", "/orders/42", fmt.Sprintf(": denied within %v of the dropped binary, through the filter's warm cache", time.Since(exec).Round(time.Millisecond))); err != nil {
		return err
	}
	*step++
	toOrders, err := s.DialFromFrontend(s.Sidecar.Addr.String())
	if err != nil {
		return err
	}
	toAuthz, err := s.DialFromFrontend(s.Authz.GRPCAddr.String())
	if err != nil {
		return err
	}
	fmt.Printf("%d. kernel   frontend's container connects to orders' sidecar: %s; to the authorizer (allow list): %s (cgroup/connect4)\n",
		*step, verdictWord(toOrders), verdictWord(toAuthz))
	return nil
}

// dropPerl copies perl where an attacker would drop a binary.
func dropPerl() (string, error) {
	b, err := os.ReadFile("/usr/bin/perl")
	if err != nil {
		return "", fmt.Errorf("the dropped binary is a copy of perl: %w", err)
	}
	f, err := os.CreateTemp("", ".kworker-")
	if err != nil {
		return "", err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Chmod(0o755); err != nil {
		f.Close()
		return "", err
	}
	return f.Name(), f.Close()
}

func verdictWord(connected bool) string {
	if connected {
		return "connected"
	}
	return "refused"
}

func awaitQuarantine(s *system.System, limit time.Duration) (quarantine.Entry, error) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if e, ok := s.Authz.Authorizer.Engine.Quarantine().Lookup(system.Frontend); ok {
			return e, nil
		}
		time.Sleep(time.Millisecond)
	}
	return quarantine.Entry{}, fmt.Errorf("no verdict against the frontend within %v", limit)
}
