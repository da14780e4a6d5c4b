// Package logging makes the JSON line loggers every meshward binary uses.
package logging

import (
	"fmt"
	"io"

	"github.com/rs/zerolog"
)

// New returns a JSON logger at level ("debug", "info", "warn", "error") that
// tags every line with the component.
func New(w io.Writer, component, level string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Nop(), fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("component", component).Logger(), nil
}
