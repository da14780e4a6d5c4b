package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"os/exec"
	"testing"
)

// startUntilServing starts cmd, copies its JSON log (stderr) into logs and
// returns once a line's message is msg, decoded into line; it fails the
// test if the process ends first. The process is killed at cleanup by
// whoever owns it.
func startUntilServing(t *testing.T, cmd *exec.Cmd, logs io.Writer, msg string, line any) {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	must(t, err)
	must(t, cmd.Start())
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		logs.Write(append(sc.Bytes(), '\n'))
		var m struct{ Message string }
		if json.Unmarshal(sc.Bytes(), &m) == nil && m.Message == msg {
			must(t, json.Unmarshal(sc.Bytes(), line))
			go func() { _, _ = io.Copy(logs, stderr) }()
			return
		}
	}
	_ = cmd.Wait()
	t.Fatalf("%s exited before %q:\n%s", cmd.Path, msg, logs)
}

// killProcess is kill -9 and the wait for it, if cmd started.
func killProcess(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}
