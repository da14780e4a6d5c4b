package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshward/meshward/ebpf-agent/cgroups"
	"github.com/meshward/meshward/ebpf-agent/collector"
	"github.com/meshward/meshward/ebpf-agent/evaluation"
	"github.com/meshward/meshward/ebpf-agent/profile"
	"github.com/meshward/meshward/ebpf-agent/trace"
)

// eval's flags are a contract (issue 4): keep them.
func evalCmd() *cobra.Command {
	var train, normal, attack []string
	var format string
	cfg := profile.DefaultConfig()
	c := &cobra.Command{
		Use:   "eval --train PATH... --normal PATH... --attack PATH... [--format auto|adfa|jsonl|native] [--window N]",
		Short: "train a container model on traces and score normal and attack traces (JSON on stdout)",
		RunE: func(c *cobra.Command, _ []string) error {
			f, err := trace.ParseFormat(format)
			if err != nil {
				return err
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			sets := make([][]trace.Trace, 3)
			for i, paths := range [][]string{train, normal, attack} {
				if sets[i], err = trace.Load(paths, f); err != nil {
					return err
				}
			}
			if len(sets[0]) == 0 || len(sets[1])+len(sets[2]) == 0 {
				return errors.New("eval: no traces to train on or to score")
			}
			enc := json.NewEncoder(c.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(evaluation.Run(sets[0], sets[1], sets[2], cfg))
		},
	}
	c.Flags().StringArrayVar(&train, "train", nil, "traces of normal behaviour to learn (file or folder; repeatable)")
	c.Flags().StringArrayVar(&normal, "normal", nil, "normal traces to score")
	c.Flags().StringArrayVar(&attack, "attack", nil, "attack traces to score")
	c.Flags().StringVar(&format, "format", "auto", "auto, adfa, jsonl or native")
	c.Flags().IntVar(&cfg.Window, "window", cfg.Window, "syscalls per window")
	c.Flags().IntVar(&cfg.N, "ngram", cfg.N, "n-gram length (2 to 8)")
	c.Flags().Float64Var(&cfg.Threshold, "threshold", cfg.Threshold, "a window scoring above this is anomalous")
	c.Flags().StringVar((*string)(&cfg.Scorer), "model", string(profile.STIDE), "how windows score: stide (unseen and rare n-grams) or surprise (their negative log-probability)")
	c.Flags().BoolVar(&cfg.Frozen, "frozen", false, "learn nothing while scoring (the offline baseline; default: learn the windows judged benign, as the agent does)")
	_ = c.MarkFlagRequired("train")
	return c
}

// record's flags are a contract (issue 4): keep them.
func recordCmd() *cobra.Command {
	var dir, out string
	var d time.Duration
	c := &cobra.Command{
		Use:   "record --cgroup DIR --out FILE [--duration D]",
		Short: "record a cgroup's system calls to a trace file (native format; root)",
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if d > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, d)
				defer cancel()
			}
			n, err := record(ctx, dir, out)
			fmt.Fprintf(c.ErrOrStderr(), "recorded %d system calls of %s to %s\n", n, dir, out)
			return err
		},
	}
	c.Flags().StringVar(&dir, "cgroup", "", "cgroup v2 directory of the container")
	c.Flags().StringVar(&out, "out", "", "trace file to write")
	c.Flags().DurationVar(&d, "duration", 0, "how long to record (0: until interrupted)")
	_ = c.MarkFlagRequired("cgroup")
	_ = c.MarkFlagRequired("out")
	return c
}

// record writes every system call of the cgroup until ctx ends.
func record(ctx context.Context, dir, out string) (int, error) {
	id, err := cgroups.ID(dir)
	if err != nil {
		return 0, err
	}
	f, err := os.Create(out)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w, err := trace.NewWriter(f)
	if err != nil {
		return 0, err
	}
	col, err := collector.Open(collector.Options{}) // every call, with its time
	if err != nil {
		return 0, err
	}
	defer col.Close()
	if err := col.Monitor(id); err != nil {
		return 0, err
	}
	n := 0
	var werr error
	err = col.Run(ctx, func(e collector.Event) {
		if werr == nil {
			werr = w.Write(trace.Record{KtimeNs: e.KtimeNs, CgroupID: e.CgroupID, PID: e.PID, TID: e.TID, Syscall: e.Syscall})
			n++
		}
	})
	if drops, derr := col.Drops(); derr == nil && drops > 0 {
		err = errors.Join(err, fmt.Errorf("record: %d events lost to a full ring buffer", drops))
	}
	return n, errors.Join(err, werr, w.Flush())
}
