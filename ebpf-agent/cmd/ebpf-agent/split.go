package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshward/meshward/ebpf-agent/trace"
)

// split turns recordings into one ADFA-format file per thread, the form in
// which traces are shared (and the project's dataset is committed).
func splitCmd() *cobra.Command {
	var out, format string
	var exclude []int64
	var minLen int
	c := &cobra.Command{
		Use:   "split --out DIR [--exclude-pid PID...] [--min N] FILE...",
		Short: "write each process of recorded traces to DIR as an ADFA-format file",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, files []string) error {
			f, err := trace.ParseFormat(format)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			n, err := split(files, f, out, exclude, minLen)
			fmt.Fprintf(c.ErrOrStderr(), "wrote %d traces to %s\n", n, out)
			return err
		},
	}
	c.Flags().StringVar(&out, "out", "", "folder to write the per-process traces to")
	c.Flags().StringVar(&format, "format", "auto", "format of the input: auto, adfa, jsonl or native")
	c.Flags().Int64SliceVar(&exclude, "exclude-pid", nil, "processes to leave out (repeatable)")
	c.Flags().IntVar(&minLen, "min", 1, "leave out processes with fewer system calls than this")
	_ = c.MarkFlagRequired("out")
	return c
}

func split(files []string, f trace.Format, out string, exclude []int64, minLen int) (int, error) {
	skip := map[int64]bool{}
	for _, p := range exclude {
		skip[p] = true
	}
	n := 0
	for _, file := range files {
		ts, err := trace.Read(file, f)
		if err != nil {
			return n, err
		}
		base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
		for _, t := range ts {
			if skip[t.PID] || len(t.Syscalls) < minLen {
				continue
			}
			file := fmt.Sprintf("%s-%d.txt", base, t.PID)
			if t.TID != 0 && t.TID != t.PID {
				file = fmt.Sprintf("%s-%d-%d.txt", base, t.PID, t.TID)
			}
			if err := writeTraceFile(filepath.Join(out, file), t); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

func writeTraceFile(path string, t trace.Trace) error {
	w, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := trace.WriteADFA(w, t); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}
