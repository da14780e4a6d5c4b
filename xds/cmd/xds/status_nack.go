package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/meshward/meshward/xds/server"
)

// printNACK shows the last configuration a node refused.
func printNACK(w io.Writer, n *server.NACKRecord) {
	if n == nil {
		fmt.Fprintln(w, "last NACK: none since start")
		return
	}
	who := safe(n.Node)
	if n.Identity != "" {
		who += " (certificate " + safe(n.Identity) + ")"
	}
	fmt.Fprintf(w, "last NACK %s: %s refused %s: %s\n", n.At.Format(time.RFC3339), who, safe(n.Type), safe(n.Error))
}

// printLeader shows the leader when the server reports one: a name, or an
// object whose fields are printed in order of their names.
func printLeader(w io.Writer, raw json.RawMessage) {
	if len(raw) == 0 || string(raw) == "null" {
		return
	}
	var name string
	if json.Unmarshal(raw, &name) == nil {
		fmt.Fprintf(w, "leader: %s\n", safe(name))
		return
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		fmt.Fprintf(w, "leader: (not understood: %s)\n", safe(err.Error()))
		return
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = safe(fmt.Sprintf("%s=%v", k, fields[k]))
	}
	fmt.Fprintf(w, "leader: %s\n", strings.Join(parts, " "))
}

// safe replaces control and format characters: the text came from the
// network (a node's id and error, a replica's name) and is read in a
// terminal.
func safe(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}
