package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/pprof"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// Which side of the bench a goroutine works for: goroutines inherit their
// creator's labels, so labelling the server's start and each client's
// goroutine splits the whole process's CPU profile between them.
const (
	sideLabel  = "meshward-xds-bench"
	sideServer = "server"
	sideClient = "client"
)

func onSide(ctx context.Context, side string, f func(context.Context)) {
	pprof.Do(ctx, pprof.Labels(sideLabel, side), f)
}

// cpuProfile is a CPU profile of one phase; nil if another profile was
// already running (the command's -cpuprofile), and then there are no shares.
type cpuProfile struct{ buf bytes.Buffer }

func startProfile() *cpuProfile {
	p := &cpuProfile{}
	if pprof.StartCPUProfile(&p.buf) != nil {
		return nil
	}
	return p
}

// stop returns CPU time per side ("" for goroutines of neither: the
// runtime's, such as the garbage collector's background workers).
func (p *cpuProfile) stop() (map[string]time.Duration, error) {
	if p == nil {
		return nil, nil
	}
	pprof.StopCPUProfile()
	return cpuByLabel(p.buf.Bytes(), sideLabel)
}

// maxProfileBytes bounds a decompressed profile.
const maxProfileBytes = 64 << 20

func cpuByLabel(gz []byte, key string) (map[string]time.Duration, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, maxProfileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	if len(raw) > maxProfileBytes {
		return nil, fmt.Errorf("profile: larger than %d bytes", maxProfileBytes)
	}
	return parseProfile(raw, key)
}

// Field numbers of profile.proto (github.com/google/pprof/proto).
const (
	profileSampleType  = 1
	profileSample      = 2
	profileStringTable = 6
	valueTypeType      = 1
	sampleValue        = 2
	sampleLabel        = 3
	labelKey           = 1
	labelStr           = 2
)

// parseProfile sums the "cpu" value of a profile's samples by the string of
// their label key.
func parseProfile(b []byte, key string) (map[string]time.Duration, error) {
	var strs [][]byte
	var types []uint64
	var samples [][]byte
	err := fields(b, func(num protowire.Number, v []byte, x uint64) error {
		switch num {
		case profileStringTable:
			strs = append(strs, v)
		case profileSampleType:
			t, err := varintField(v, valueTypeType)
			types = append(types, t)
			return err
		case profileSample:
			samples = append(samples, v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	cpu := -1
	for i, t := range types {
		if t < uint64(len(strs)) && string(strs[t]) == "cpu" {
			cpu = i
		}
	}
	if cpu < 0 {
		return nil, errors.New("profile: no \"cpu\" sample type")
	}
	out := map[string]time.Duration{}
	for i, s := range samples {
		ns, label, err := sample(s, cpu, key, strs)
		if err != nil {
			return nil, fmt.Errorf("profile: sample %d: %w", i, err)
		}
		out[label] += time.Duration(ns)
	}
	return out, nil
}

// sample returns a sample's value at index idx and the string of its label key.
func sample(b []byte, idx int, key string, strs [][]byte) (int64, string, error) {
	var values []uint64
	label := ""
	err := fields(b, func(num protowire.Number, v []byte, x uint64) error {
		switch num {
		case sampleValue:
			if v == nil {
				values = append(values, x)
				return nil
			}
			return packed(v, func(x uint64) { values = append(values, x) })
		case sampleLabel:
			if v == nil {
				return errors.New("label: a varint where a message belongs")
			}
			k, err := varintField(v, labelKey)
			if err != nil {
				return fmt.Errorf("label: %w", err)
			}
			s, err := varintField(v, labelStr)
			if err != nil {
				return fmt.Errorf("label: %w", err)
			}
			if k >= uint64(len(strs)) || s >= uint64(len(strs)) {
				return fmt.Errorf("label: string %d or %d outside the table of %d", k, s, len(strs))
			}
			if string(strs[k]) == key {
				label = string(strs[s])
			}
		}
		return nil
	})
	if err != nil {
		return 0, "", err
	}
	if idx >= len(values) {
		return 0, "", fmt.Errorf("%d values, want the cpu value at %d", len(values), idx)
	}
	return int64(values[idx]), label, nil
}

// fields walks a message: v is a length-delimited field's bytes (nil for a
// varint), x a varint's value; fixed-width fields are skipped.
func fields(b []byte, f func(num protowire.Number, v []byte, x uint64) error) error {
	for off := 0; off < len(b); {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return fmt.Errorf("byte %d: tag: %w", off, protowire.ParseError(n))
		}
		off += n
		var v []byte
		var x uint64
		switch typ {
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b[off:])
			if v == nil && n >= 0 {
				v = []byte{}
			}
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b[off:])
		default:
			n = protowire.ConsumeFieldValue(num, typ, b[off:])
		}
		if n < 0 {
			return fmt.Errorf("byte %d: field %d: %w", off, num, protowire.ParseError(n))
		}
		off += n
		if typ != protowire.BytesType && typ != protowire.VarintType {
			continue
		}
		if err := f(num, v, x); err != nil {
			return fmt.Errorf("byte %d: field %d: %w", off-n, num, err)
		}
	}
	return nil
}

// varintField is the last value of varint field want in message b (0 if
// absent, as proto3 has it).
func varintField(b []byte, want protowire.Number) (uint64, error) {
	var out uint64
	err := fields(b, func(num protowire.Number, v []byte, x uint64) error {
		if num == want {
			if v != nil {
				return errors.New("length-delimited where a varint belongs")
			}
			out = x
		}
		return nil
	})
	return out, err
}

func packed(b []byte, f func(uint64)) error {
	for off := 0; off < len(b); {
		x, n := protowire.ConsumeVarint(b[off:])
		if n < 0 {
			return fmt.Errorf("packed varint at byte %d: %w", off, protowire.ParseError(n))
		}
		f(x)
		off += n
	}
	return nil
}
