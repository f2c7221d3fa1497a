package stage0

import (
	"fmt"
	"strings"
)

// M1 is a macro assembler whose output is hex2 text. Its input is a stream
// of tokens separated by spaces, tabs and line ends; '#' and ';' start a
// comment that ends at '\n' or '\r'. A token is
//
//	DEFINE name value   name becomes value (a string value without its quote)
//	"text"              the bytes of text and a NUL, as hex pairs
//	'text'              text itself, passed through raw
//	!n @n $n ~n %n &n   a number (strtoint syntax) as 1, 2, 2, 3, 4, 4 bytes
//	<n                  n zero bytes (a bare "<" passes through)
//	:x !x @x $x ~x %x &x ^x, <x with x not a number
//	                    passed through for hex2
//
// Macros are global: the last DEFINE of a name applies to every use, before
// or after it. Any other token is an error. The output keeps the input's
// lines: tokens of a line joined by single spaces, runs of blank lines and
// DEFINE lines collapsed into one line end.
//
// Numbers are range-checked as mescc-tools 1.7.0 checks them, which is
// loosely: !n takes -129..256, @n -32769..32768, $n -32769..65536,
// ~n -8388609..8388608; 4-byte values are not checked.
//
// The twin's own limits: "<n" padding above 1 MiB is an error, and error
// lines count '\n' only (upstream also counts a comment ending at '\r').

// M1Options selects how M1 assembles.
type M1Options struct {
	Arch      Arch // X86 or AMD64
	BigEndian bool // write numbers most significant byte first (--big-endian)
}

// M1 assembles one M1 source into hex2 text as mescc-tools M1 1.7.0 does.
func M1(src []byte, opts M1Options) ([]byte, error) {
	return M1Files([]File{{Data: src}}, opts)
}

const (
	blobAtom = iota
	blobString
	blobNewline
)

// An m1Blob is one distinct token text. Every token with that text shares it,
// which is what makes macros global.
type m1Blob struct {
	text    string
	kind    int
	expr    string
	hasExpr bool
	garbage byte   // a byte upstream would hexify into garbage, if printed
	file    string // where the text first appeared, for errors
	line    int
}

type m1Token struct {
	blob *m1Blob
	file string
	line int
}

// m1MaxPad bounds "<n" padding; upstream's limit is whatever calloc gives.
const m1MaxPad = 1 << 20

// M1Files assembles several inputs, in order, as mescc-tools M1 does when
// given several -f options.
func M1Files(files []File, opts M1Options) ([]byte, error) {
	const tool = "M1"
	if err := opts.Arch.check(tool); err != nil {
		return nil, err
	}
	newline := &m1Blob{text: "\n", kind: blobNewline, expr: "\n", hasExpr: true}
	define := &m1Blob{text: "DEFINE"}
	blobs := map[string]*m1Blob{"\n": newline, "DEFINE": define}
	order := []*m1Blob{newline, define} // creation order
	var toks []m1Token

	intern := func(text string, kind int, f File, line int) *m1Blob {
		if b, ok := blobs[text]; ok {
			return b
		}
		b := &m1Blob{text: text, kind: kind, file: f.Name, line: line}
		blobs[text] = b
		order = append(order, b)
		return b
	}

	// Tokenize. A comment's end, even at '\r', ends the line of tokens.
	for _, f := range files {
		src := f.Data
		line := 1
		addNewline := func() {
			if len(toks) == 0 || toks[len(toks)-1].blob == newline {
				return
			}
			toks = append(toks, m1Token{newline, f.Name, line})
		}
		pos := 0
		for {
			if pos >= len(src) {
				addNewline()
				break
			}
			at := pos
			c := src[pos]
			pos++
			switch c {
			case 0:
				return nil, undefinedAt(tool, f, at, "NUL byte: M1 would misread the tokens after it")
			case '#', ';':
				pos = skipCommentOrEOF(src, pos)
				if src[pos-1] == '\n' {
					line++
				}
				addNewline()
			case ' ', '\t':
			case '\n':
				line++
				addNewline()
			case '"', '\'':
				start := at
				tokLine := line
				for pos < len(src) && src[pos] != c {
					if src[pos] == '\n' {
						line++
					}
					if src[pos] == 0 {
						return nil, undefinedAt(tool, f, pos, "NUL byte in a string: M1 would misread the tokens after it")
					}
					pos++
				}
				if pos >= len(src) {
					return nil, &Error{Tool: tool, File: f.Name, Line: tokLine, Msg: fmt.Sprintf("unmatched %c: the string runs into the end of the input", c)}
				}
				text := string(src[start:pos]) // with the opening quote
				pos++                          // the closing quote
				if len(text) > maxToken {
					return nil, &Error{Tool: tool, File: f.Name, Line: tokLine, Msg: fmt.Sprintf("string of %d bytes exceeds the %d-byte limit", len(text), maxToken)}
				}
				toks = append(toks, m1Token{intern(text, blobString, f, tokLine), f.Name, tokLine})
			default:
				start := at
				for pos < len(src) && src[pos] != ' ' && src[pos] != '\t' && src[pos] != '\n' {
					if src[pos] == 0 {
						return nil, undefinedAt(tool, f, pos, "NUL byte: M1 would misread the tokens after it")
					}
					pos++
				}
				text := string(src[start:pos])
				if len(text) > maxToken {
					return nil, errAt(tool, f, at, "token of %d bytes exceeds the %d-byte limit", len(text), maxToken)
				}
				toks = append(toks, m1Token{intern(text, blobAtom, f, line), f.Name, line})
				if pos < len(src) && src[pos] == '\n' {
					pos++
					line++
					addNewline()
				}
			}
		}
	}
	if len(toks) == 0 {
		return nil, &Error{Tool: tool, Line: 1, Msg: "no tokens: the inputs are empty"}
	}

	// Apply DEFINEs: each becomes a line end, and its name and value leave the
	// token stream.
	kept := toks[:0]
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.blob == define {
			if i+1 >= len(toks) {
				return nil, &Error{Tool: tool, File: t.file, Line: t.line, Msg: "DEFINE without a macro name"}
			}
			if i+2 >= len(toks) {
				return nil, &Error{Tool: tool, File: t.file, Line: t.line, Msg: "DEFINE without a macro value"}
			}
			name, value := toks[i+1].blob, toks[i+2].blob
			name.expr, name.hasExpr = value.text, true
			if value.kind == blobString {
				name.expr = value.text[1:]
			}
			t.blob = newline
			i += 2
		}
		kept = append(kept, t)
	}
	toks = kept

	// Upstream walks its blobs newest first; keep that order so that the
	// first error reported is upstream's.
	for i := len(order) - 1; i >= 0; i-- {
		b := order[i]
		if b.kind != blobString {
			continue
		}
		if b.text[0] == '\'' {
			b.expr, b.hasExpr = b.text[1:], true
			continue
		}
		var sb strings.Builder
		for j := 1; j < len(b.text); j++ {
			if b.text[j] >= 0x80 && b.garbage == 0 {
				b.garbage = b.text[j]
			}
			fmt.Fprintf(&sb, "%02X ", b.text[j])
		}
		sb.WriteString("00 ")
		b.expr, b.hasExpr = sb.String(), true
	}
	for i := len(order) - 1; i >= 0; i-- {
		b := order[i]
		if b.kind == blobNewline || b.text[0] == '<' || b.hasExpr {
			continue
		}
		if strings.IndexByte("%~@!&$", b.text[0]) < 0 {
			continue
		}
		v := strtoint(b.text[1:], opts.Arch)
		if v == 0 && (len(b.text) < 2 || b.text[1] != '0') {
			continue
		}
		expr, err := m1Number(v, b.text[0], opts.BigEndian)
		if err != nil {
			return nil, &Error{Tool: tool, File: b.file, Line: b.line, Msg: fmt.Sprintf("%s: %v", b.text, err)}
		}
		b.expr, b.hasExpr = expr, true
	}
	for i := len(order) - 1; i >= 0; i-- {
		b := order[i]
		if b.hasExpr {
			continue
		}
		switch c := b.text[0]; {
		case strings.IndexByte("!@$~%&:^", c) >= 0:
			b.expr, b.hasExpr = b.text, true
		case c == '<':
			n := strtoint(b.text[1:], opts.Arch)
			switch {
			case n == 0:
				b.expr, b.hasExpr = b.text, true
			case n < 0:
				return nil, &Error{Tool: tool, File: b.file, Line: b.line, Msg: fmt.Sprintf("%s: negative padding", b.text)}
			case n > m1MaxPad:
				return nil, &Error{Tool: tool, File: b.file, Line: b.line, Msg: fmt.Sprintf("%s: padding larger than %d bytes", b.text, m1MaxPad)}
			default:
				b.expr, b.hasExpr = strings.Repeat("00", int(n)), true
			}
		}
	}

	var out strings.Builder
	for i, t := range toks {
		nextIsNewline := i+1 >= len(toks) || toks[i+1].blob.kind == blobNewline
		if t.blob.kind == blobNewline {
			if nextIsNewline && i+1 < len(toks) {
				continue
			}
			out.WriteByte('\n')
			continue
		}
		if !t.blob.hasExpr {
			return nil, &Error{Tool: tool, File: t.file, Line: t.line, Msg: fmt.Sprintf("%q is not a macro, number, string, label or pointer", t.blob.text)}
		}
		if t.blob.garbage != 0 {
			return nil, &Error{Tool: tool, File: t.file, Line: t.line, Undefined: true, Msg: fmt.Sprintf("byte 0x%02X in a \"string\": M1 hexifies it through a signed char and writes garbage; use a 'hex' string", t.blob.garbage)}
		}
		out.WriteString(t.blob.expr)
		if !nextIsNewline {
			out.WriteByte(' ')
		}
	}
	return []byte(out.String()), nil
}

// m1Number writes v as the hex pairs of a 1-, 2-, 3- or 4-byte immediate,
// after mescc-tools' range check.
func m1Number(v int64, prefix byte, bigEndian bool) (string, error) {
	var size int
	var lo, hi int64
	check := true
	switch prefix {
	case '!':
		size, lo, hi = 1, -129, 256
	case '@':
		size, lo, hi = 2, -32769, 32768
	case '$':
		size, lo, hi = 2, -32769, 65536
	case '~':
		size, lo, hi = 3, -8388609, 8388608
	default: // '%', '&'
		size, check = 4, false
	}
	if check && (v < lo || v > hi) {
		return "", fmt.Errorf("value %d does not fit in %d byte(s)", v, size)
	}
	var b []byte
	if bigEndian {
		b = putBE(nil, uint64(v), size)
	} else {
		b = putLE(nil, uint64(v), size)
	}
	return fmt.Sprintf("%X", b), nil
}
