// Package termsafe makes text that comes from a step or a source safe to
// print on a terminal. A file name, a log line or an error message that
// names either can hold bytes a terminal obeys (ESC sequences that move
// the cursor, rewrite the title, hide text, or worse); Escape shows them
// instead. Everything bootchain prints that such text reaches goes
// through Escape: the run's summary and failure details, the progress
// lines, bootchain step's displays and error messages; the commands that
// read another party's files (compare, attest, import, verify-image)
// print through Writer.
package termsafe

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Escape returns s with every character a terminal could act on written as
// a Go escape: C0 controls but the tab (\n, \r, \x1b...), DEL, C1
// controls (\u009b is a CSI on its own), the Unicode controls that reorder
// text on screen (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C)
// and bytes that are not UTF-8 (\xff). Other text, backslashes included,
// is left as it is, so ordinary lines read as they were written.
func Escape(s string) string {
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if unsafe(r, n) {
			break
		}
		i += n
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case !unsafe(r, n):
			b.WriteString(s[i : i+n])
		case r == utf8.RuneError:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += n
	}
	return b.String()
}

// unsafe says whether the rune r, n bytes long in its string, must be
// escaped.
func unsafe(r rune, n int) bool {
	switch {
	case r == utf8.RuneError && n <= 1:
		return true
	case r < 0x20:
		return r != '\t'
	case r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true
	}
	return false
}

// Lines escapes each of lines.
func Lines(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = Escape(l)
	}
	return out
}

// EscapeText is Escape for text of many lines: line feeds stay.
func EscapeText(s string) string {
	if !strings.Contains(s, "\n") {
		return Escape(s)
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Escape(l)
	}
	return strings.Join(lines, "\n")
}

// Writer escapes, as EscapeText does, everything written through it to W:
// for commands that print what another party wrote (a report, an
// attestation, an image). Each Write is escaped on its own, so a
// character split between two writes shows as escaped bytes.
type Writer struct{ W io.Writer }

func (w Writer) Write(p []byte) (int, error) {
	if _, err := io.WriteString(w.W, EscapeText(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
