package filter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/meshward/meshward/api/check"
)

// namedHeaders are the headers the authorizer's policies read, as its last
// epoch answer said: they are decisive facts, sent first and whole.
type namedHeaders struct {
	names map[string]bool
	all   bool // every header is decisive
}

func (n *namedHeaders) decisive(name string) bool { return n.all || n.names[name] }

// notDescribable is a request whose decisive facts cannot reach the
// authorizer as they are: it is denied, whatever the fail mode, since no
// authorizer could answer for it. The message names no value (paths,
// queries and headers are never logged).
type notDescribable struct{ what string }

func (e *notDescribable) Error() string { return "request not describable: " + e.what }

// reserve is what the header fields cost around their contents:
// ,"headers":{} ,"omitted_headers":[] ,"omitted_headers_truncated":true
const reserve = 13 + 21 + 33

// describe completes base (the facts from the connection and the
// configuration) with the request's pseudo-headers and headers, keeping the
// encoded check within budget bytes: the method, path, host and the named
// headers whole, or an error; then the other headers while they fit, naming
// those that do not (or flagging that even their names did not fit).
// Repeated headers are joined with "," and counted whole.
func describe(base check.Request, headers [][2]string, named *namedHeaders, budget int) (check.Request, error) {
	r := base
	order, values, err := pseudoAndGroup(&r, headers)
	if err != nil {
		return check.Request{}, err
	}
	if err := decisivePseudo(&r); err != nil {
		return check.Request{}, err
	}
	if r.Destination == "" { // no configured destination: the request names it
		r.Destination = r.Host
	}
	if r.Destination == "" {
		return check.Request{}, &notDescribable{"no destination configured and no :authority"}
	}
	size, err := encodedSize(r)
	if err != nil {
		return check.Request{}, err
	}
	if size += reserve; size > budget {
		return check.Request{}, &notDescribable{fmt.Sprintf("method, path, host and connection facts take %d bytes encoded, limit %d", size, budget)}
	}
	r.Headers = map[string]string{}
	for _, name := range order { // the named ones first, whole
		if !named.decisive(name) {
			continue
		}
		v := strings.Join(values[name], ",")
		cost := entryLen(name, v)
		if !utf8.ValidString(v) || size+cost > budget {
			return check.Request{}, &notDescribable{fmt.Sprintf("header %q, which a policy reads, does not fit whole (%d bytes encoded, %d left)", name, cost, budget-size)}
		}
		r.Headers[name], size = v, size+cost
	}
	addOthers(&r, order, values, named, size, budget)
	if len(r.Headers) == 0 {
		r.Headers = nil
	}
	return r, nil
}

// addOthers sends the headers no policy names while they fit, and names
// the others as omitted. When the names of all of them fit, room for them
// is kept from the start, so that no name is lost to a header sent before
// it; otherwise the names that fit are listed and the check is flagged.
func addOthers(r *check.Request, order []string, values map[string][]string, named *namedHeaders, size, budget int) {
	pending := 0 // room kept for the names of the headers not yet placed
	for _, name := range order {
		if !named.decisive(name) && utf8.ValidString(name) {
			pending += encodedLen(name) + 1
		}
	}
	keep := size+pending <= budget
	if !keep {
		pending = 0
	}
	listed := 0 // what the omitted names listed so far cost
	for _, name := range order {
		if named.decisive(name) {
			continue
		}
		validName, omitCost := utf8.ValidString(name), encodedLen(name)+1
		if keep && validName {
			pending -= omitCost
		}
		if v := strings.Join(values[name], ","); validName && utf8.ValidString(v) && size+listed+pending+entryLen(name, v) <= budget {
			r.Headers[name], size = v, size+entryLen(name, v)
			continue
		}
		if validName && size+listed+pending+omitCost <= budget {
			r.OmittedHeaders, listed = append(r.OmittedHeaders, name), listed+omitCost
			continue
		}
		r.OmittedHeadersTruncated = true
	}
}

// pseudoAndGroup takes the method, path and host from the pseudo-headers
// and groups the other headers the authorizer may see by name, in order of
// first appearance.
func pseudoAndGroup(r *check.Request, headers [][2]string) ([]string, map[string][]string, error) {
	var order []string
	values := map[string][]string{}
	for _, h := range headers {
		var into *string
		switch h[0] {
		case ":method":
			into = &r.Method
		case ":path":
			into = &r.Path
		case ":authority":
			into = &r.Host
		}
		switch {
		case into != nil && *into != "":
			return nil, nil, &notDescribable{"pseudo-header " + h[0] + " given twice"}
		case into != nil:
			*into = h[1]
		case strings.HasPrefix(h[0], ":") || check.DroppedHeaders[h[0]] || h[0] == RuleHeader:
		default:
			if _, seen := values[h[0]]; !seen {
				order = append(order, h[0])
			}
			values[h[0]] = append(values[h[0]], h[1])
		}
	}
	return order, values, nil
}

// decisivePseudo checks that the method, path and host can be sent as they
// are: JSON would replace bytes that are not UTF-8, and the authorizer
// rejects a check without a method or a path it can match.
func decisivePseudo(r *check.Request) error {
	switch {
	case r.Method == "":
		return &notDescribable{"no :method"}
	case r.Path == "*" && r.Method == "OPTIONS": // asterisk-form
	case r.Path == "" || r.Path[0] != '/':
		return &notDescribable{"the :path is neither an absolute path nor OPTIONS *"}
	}
	for _, f := range []struct{ name, v string }{{":method", r.Method}, {":path", r.Path}, {":authority", r.Host}} {
		if !utf8.ValidString(f.v) {
			return &notDescribable{f.name + " is not valid UTF-8"}
		}
	}
	return nil
}

// encode writes a check request as the authorizer reads it. HTML escaping
// is off: it would turn each '<' into six bytes, for no reader's benefit.
func encode(r check.Request) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func encodedSize(r check.Request) (int, error) {
	b, err := encode(r)
	return len(b), err
}

// entryLen is what "name":"value", costs in a JSON object.
func entryLen(name, value string) int { return encodedLen(name) + encodedLen(value) + 2 }

// encodedLen is the length of s as encode writes it, quotes included.
func encodedLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t':
				n += 2
			case c < 0x20:
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1, r == '\u2028', r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}
