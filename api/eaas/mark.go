package eaas

import (
	"fmt"
	"strconv"
	"strings"
)

// MarkHeader marks a request or response whose body is an Envelope.
const MarkHeader = "x-meshward-eaas"

const markPrefix = "v1; subscriber="

// FormatMark is the mark header's value for a subscriber.
func FormatMark(subscriber uint32) string {
	return markPrefix + strconv.FormatUint(uint64(subscriber), 10)
}

// ParseMark reads a mark header's value: exactly what FormatMark writes.
func ParseMark(v string) (subscriber uint32, err error) {
	if len(v) > len(markPrefix)+10 || !strings.HasPrefix(v, markPrefix) {
		return 0, fmt.Errorf("eaas mark: %.40q is not \"%s<id>\"", v, markPrefix)
	}
	digits := v[len(markPrefix):]
	n, err := strconv.ParseUint(digits, 10, 32)
	if err != nil || (len(digits) > 1 && digits[0] == '0') {
		return 0, fmt.Errorf("eaas mark: subscriber at byte %d: %q is not a decimal uint32", len(markPrefix), digits)
	}
	return uint32(n), nil
}
