package monitoring

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The lexer reads just enough PromQL to tell names, strings, brackets and
// Grafana variables apart; everything else is tOther.

type kind int

const (
	tEOF kind = iota
	tIdent
	tString
	tOpen
	tClose
	tBrace
	tCloseBrace
	tComma
	tOther
)

type token struct {
	kind kind
	text string
	pos  int
}

type lexer struct {
	src string
	pos int
}

func (l *lexer) peek() byte {
	if l.pos < len(l.src) {
		return l.src[l.pos]
	}
	return 0
}

func (l *lexer) skipSpace() {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			l.pos++
		case c == '#': // a comment runs to the end of the line
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
		default:
			return
		}
	}
}

// next returns the next token; numbers, operators, durations in brackets
// and Grafana variables come back as tOther (or are skipped).
func (l *lexer) next() (token, error) {
	l.skipSpace()
	start := l.pos
	if l.pos >= len(l.src) {
		return token{kind: tEOF, pos: start}, nil
	}
	c := l.src[l.pos]
	switch {
	case c == '(' || c == ')' || c == '{' || c == '}' || c == ',':
		l.pos++
		return token{kind: map[byte]kind{'(': tOpen, ')': tClose, '{': tBrace, '}': tCloseBrace, ',': tComma}[c], text: string(c), pos: start}, nil
	case c == '"' || c == '\'' || c == '`':
		s, err := l.quoted(c)
		return token{kind: tString, text: s, pos: start}, err
	case c == '[':
		return l.bracket()
	case c == '$':
		return l.variable()
	case isIdentStart(rune(c)):
		for l.pos < len(l.src) && isIdentPart(rune(l.src[l.pos])) {
			l.pos++
		}
		return token{kind: tIdent, text: l.src[start:l.pos], pos: start}, nil
	case c >= '0' && c <= '9' || c == '.':
		for l.pos < len(l.src) && (isIdentPart(rune(l.src[l.pos])) || l.src[l.pos] == '.' ||
			(l.src[l.pos] == '+' || l.src[l.pos] == '-') && (l.src[l.pos-1] == 'e' || l.src[l.pos-1] == 'E')) {
			l.pos++
		}
		return token{kind: tOther, text: l.src[start:l.pos], pos: start}, nil
	case strings.ContainsRune("+-*/%^=!<>@:", rune(c)):
		l.pos++
		return token{kind: tOther, text: string(c), pos: start}, nil
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.pos:])
	return token{}, fmt.Errorf("offset %d: unexpected %q", start, r)
}

// bracket skips a range or subquery: durations, ':' and variables only.
func (l *lexer) bracket() (token, error) {
	start := l.pos
	l.pos++
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == ']':
			l.pos++
			return token{kind: tOther, text: l.src[start:l.pos], pos: start}, nil
		case c == '$' || c == '{' || c == '}' || c == ':' || c == ' ' || isIdentPart(rune(c)):
			l.pos++
		default:
			return token{}, fmt.Errorf("offset %d: %q in a range", l.pos, c)
		}
	}
	return token{}, fmt.Errorf("offset %d: '[' never closed", start)
}

// variable skips a Grafana variable: $name or ${name} or ${name:format}.
func (l *lexer) variable() (token, error) {
	start := l.pos
	l.pos++
	if l.peek() == '{' {
		end := strings.IndexByte(l.src[l.pos:], '}')
		if end < 0 {
			return token{}, fmt.Errorf("offset %d: '${' never closed", start)
		}
		l.pos += end + 1
	} else {
		for l.pos < len(l.src) && isIdentPart(rune(l.src[l.pos])) {
			l.pos++
		}
	}
	if l.pos == start+1 {
		return token{}, fmt.Errorf("offset %d: '$' without a variable name", start)
	}
	return token{kind: tOther, text: l.src[start:l.pos], pos: start}, nil
}

func (l *lexer) quoted(q byte) (string, error) {
	start := l.pos
	l.pos++
	var b strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == q:
			l.pos++
			return b.String(), nil
		case c == '\\' && q != '`' && l.pos+1 < len(l.src):
			b.WriteByte(l.src[l.pos+1])
			l.pos += 2
		case c == '\n' && q != '`':
			return "", fmt.Errorf("offset %d: string opened at %d runs past the line", l.pos, start)
		default:
			b.WriteByte(c)
			l.pos++
		}
	}
	return "", fmt.Errorf("offset %d: string never closed", start)
}

func isIdentStart(r rune) bool {
	return r == '_' || r == ':' || r < unicode.MaxASCII && unicode.IsLetter(r)
}

func isIdentPart(r rune) bool {
	return r == '_' || r == ':' || r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r))
}
