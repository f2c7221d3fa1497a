package stage0

import (
	"fmt"
	"strings"
)

// M0 is the hand-written subset of M1 that stage0-posix builds first
// (M0_x86.hex2, M0_AMD64.hex2). It differs from M1 in ways that change its
// output:
//   - it writes one token per line, and keeps no blank lines;
//   - a DEFINE applies only to the tokens after it, and its value is copied
//     as written (a quoted value keeps its opening quote);
//   - "text" becomes the hex of text and a NUL with no spaces, 'text' text;
//   - any token other than a string or a macro use whose text after the first
//     character reads as a non-zero number (or starts with '0') becomes that
//     number: 4 bytes after '%', 2 after '@', 1 byte after anything else;
//     numbers are decimal (with '-') or "0x" upper-case hex, checked for
//     nothing but their digits;
//   - every other token is passed through unchanged, so M0 reports no errors;
//   - comments end at '\n' only; a NUL byte starts a comment and ends a
//     token; a 0xFC byte where a token could start ends the input.
//
// Where M0 would hang, crash or overrun its buffers, the twin returns an
// error: a comment, token or string that runs into the end of the input, a
// token longer than its 255-byte buffer, an empty input, and a DEFINE that
// lacks a name or value or is the last thing in the input.

// m0MaxText is the longest token text M0 holds: it allocates 256 bytes per
// token and relies on the byte after the text being zero.
const m0MaxText = 255

const (
	m0Plain = iota
	m0Macro
	m0String
)

type m0Token struct {
	text    string
	kind    int
	expr    string
	hasExpr bool
	line    int
}

// M0 assembles M0 source into hex2 text as the stage0-posix M0 for arch does.
func M0(src []byte, arch Arch) ([]byte, error) {
	const tool = "M0"
	if err := arch.check(tool); err != nil {
		return nil, err
	}
	f := File{Data: src}
	var toks []*m0Token
	pos := 0
tokenize:
	for pos < len(src) {
		at := pos
		c := src[pos]
		pos++
		switch c {
		case 0xFC:
			// fgetc's EOF marker is -4 with the byte read stored over its low
			// byte, so a 0xFC byte compares equal to EOF.
			break tokenize
		case '#', ';', 0:
			for pos < len(src) && src[pos] != '\n' {
				pos++
			}
			if pos >= len(src) {
				return nil, errAt(tool, f, at, "comment runs into the end of the input: M0 reads on forever without a '\\n'")
			}
			pos++
		case '\n', '\t', ' ':
		case '"', '\'':
			for pos < len(src) && src[pos] != c {
				pos++
			}
			if pos >= len(src) {
				return nil, errAt(tool, f, at, "unmatched %c: M0 reads on forever", c)
			}
			text := src[at:pos]
			pos++
			if len(text) > m0MaxText {
				return nil, undefinedAt(tool, f, at, "string of %d bytes overruns M0's %d-byte token buffer", len(text), m0MaxText)
			}
			if i := strings.IndexByte(string(text), 0); i >= 0 {
				text = text[:i]
			}
			toks = append(toks, &m0Token{text: string(text), kind: m0String, line: lineAt(src, at)})
		default:
			for pos < len(src) && src[pos] != '\n' && src[pos] != '\t' && src[pos] != ' ' && src[pos] != 0 {
				pos++
			}
			if pos >= len(src) {
				return nil, errAt(tool, f, at, "token runs into the end of the input: M0 reads on forever without a space, tab or '\\n' after it")
			}
			text := string(src[at:pos])
			pos++ // the terminator
			if len(text) > m0MaxText {
				return nil, undefinedAt(tool, f, at, "token of %d bytes overruns M0's %d-byte token buffer", len(text), m0MaxText)
			}
			toks = append(toks, &m0Token{text: text, line: lineAt(src, at)})
		}
	}
	if len(toks) == 0 {
		return nil, &Error{Tool: tool, Line: lineAt(src, pos), Msg: "no tokens: M0 crashes on an empty input"}
	}

	// Identify the DEFINEs: each takes over its name and value.
	kept := toks[:0]
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.text == "DEFINE" {
			if i+2 >= len(toks) {
				return nil, &Error{Tool: tool, Line: t.line, Msg: "DEFINE without a name and value: M0 crashes"}
			}
			t.kind = m0Macro
			t.text = toks[i+1].text
			t.expr, t.hasExpr = toks[i+2].text, true
			i += 2
		}
		kept = append(kept, t)
	}
	toks = kept
	// Apply each to the tokens after it, which is the same as giving each
	// use the most recent DEFINE of its text before it.
	if last := toks[len(toks)-1]; last.kind == m0Macro {
		return nil, &Error{Tool: tool, Line: last.line, Msg: "DEFINE is the last thing in the input: M0 crashes"}
	}
	macros := map[string]string{}
	for _, t := range toks {
		if t.kind == m0Macro {
			macros[t.text] = t.expr
			continue
		}
		if exp, ok := macros[t.text]; ok {
			t.expr, t.hasExpr = exp, true
		}
	}
	for _, t := range toks {
		if t.kind != m0String {
			continue
		}
		if t.text[0] == '\'' {
			t.expr, t.hasExpr = t.text[1:], true
			continue
		}
		var sb strings.Builder
		for j := 1; j < len(t.text); j++ {
			fmt.Fprintf(&sb, "%02X", t.text[j])
		}
		sb.WriteString("00")
		t.expr, t.hasExpr = sb.String(), true
	}
	for _, t := range toks {
		if t.kind == m0Macro || t.hasExpr {
			continue
		}
		v := m0Number(t.text[1:], arch)
		if v == 0 && (len(t.text) < 2 || t.text[1] != '0') {
			continue
		}
		n := 1
		switch t.text[0] {
		case '%':
			n = 4
		case '@':
			n = 2
		}
		t.expr, t.hasExpr = fmt.Sprintf("%X", putLE(nil, uint64(v), n)), true
	}

	var out strings.Builder
	for _, t := range toks {
		if t.kind == m0Macro {
			continue
		}
		if t.hasExpr {
			out.WriteString(t.expr)
		} else {
			out.WriteString(t.text)
		}
		out.WriteByte('\n')
	}
	return []byte(out.String()), nil
}

// m0Number reads a number as M0's numerate_string does: "?x" followed by
// upper-case hex digits (where ':' to '@' count as 3 to 9), or decimal with
// an optional '-'; anything else is 0. Registers are 32 bits on x86 and 64
// on amd64.
func m0Number(s string, arch Arch) int64 {
	wrap := func(v int64) int64 {
		if arch == X86 {
			return int64(int32(v))
		}
		return v
	}
	var v int64
	if len(s) >= 2 && s[1] == 'x' {
		for i := 2; i < len(s); i++ {
			d := int64(s[i]) - '0'
			if d >= 10 {
				d -= 7
			}
			if d > 15 || d < 0 {
				return 0
			}
			v = wrap(v<<4 + d)
		}
		return v
	}
	neg := false
	if s != "" && s[0] == '-' {
		neg, s = true, s[1:]
	}
	for i := 0; i < len(s); i++ {
		d := int64(s[i]) - '0'
		if d > 9 || d < 0 {
			return 0
		}
		v = wrap(v*10 + d)
	}
	if neg {
		v = wrap(-v)
	}
	return v
}
