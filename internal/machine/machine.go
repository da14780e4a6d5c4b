// Package machine describes the machine a benchmark ran on, so that its
// figures can be read against what else the machine was doing.
package machine

import (
	"os"
	"strings"
)

// LoadAverage is the 1, 5 and 15 minute load averages from /proc/loadavg,
// or "unknown".
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return parseLoadAverage(string(b))
}

func parseLoadAverage(s string) string {
	f := strings.Fields(s)
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
