package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/meshward/meshward/extauthz/bench"
)

// memory runs the real authorizer binary on the n-rule policy file, loads it
// with checks for d, and reports its peak resident memory (VmHWM: loading the
// policy included) and what it holds after the load.
func memory(binary string, rules int, d time.Duration, workers, conns int) error {
	dir, err := os.MkdirTemp("", "authz-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	policyFile, tokenFile := filepath.Join(dir, "policy.yaml"), filepath.Join(dir, "token")
	if err := os.WriteFile(policyFile, []byte(bench.Policies(rules)), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(tokenFile, []byte("bench-token-0123456789abcdef"), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(binary, "serve", "--policy", policyFile, "--verdict-token-file", tokenFile,
		"--insecure-plaintext-checks", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addr, err := servingAddr(stderr)
	if err != nil {
		return err
	}
	loaded := time.Since(start)
	afterLoad, _ := procStatus(cmd.Process.Pid, "VmRSS")
	reqs := bench.CheckRequests(bench.Requests(rules, 4096, 2))
	res, err := bench.Load(context.Background(), addr, reqs, workers, conns, d)
	if err != nil {
		return err
	}
	peak, err := procStatus(cmd.Process.Pid, "VmHWM")
	if err != nil {
		return err
	}
	rss, _ := procStatus(cmd.Process.Pid, "VmRSS")
	fmt.Printf("resident memory of `extauthz serve` with the %d-rule set (%s): ready in %v, %d MiB after loading; "+
		"under %v of load (%.0f req/s, p99 %v, %d errors) %d MiB; peak (VmHWM) %d MiB\n",
		rules, binary, loaded.Round(time.Millisecond), afterLoad>>10, d, res.Throughput, res.P99, res.Errors, rss>>10, peak>>10)
	return nil
}

// servingAddr reads the authorizer's JSON log until it says where it serves.
func servingAddr(stderr interface{ Read([]byte) (int, error) }) (string, error) {
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		var line struct{ Message, GRPC string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "authorizer serving" {
			go func() {
				for sc.Scan() { // keep the pipe drained
				}
			}()
			return line.GRPC, nil
		}
	}
	return "", errors.New("the authorizer exited before serving")
}

// procStatus reads one kB field of /proc/<pid>/status.
func procStatus(pid int, field string) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}
