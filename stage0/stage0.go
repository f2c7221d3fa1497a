// Package stage0 holds independent Go twins of the stage0-posix languages —
// hex1, the hand-written hex2 (hex2-0), M0, catm, and the mescc-tools hex2,
// M1 and blood-elf — so that every intermediate at the bottom of the chain can
// be re-derived on the host by a second, unrelated implementation and compared
// byte for byte with what the bootstrapped tools wrote (diverse
// double-compiling for the first stages).
//
// Each twin is a pure function from input bytes to output bytes. For input
// the upstream tool accepts, the twin writes the same bytes. Where upstream
// would hang, crash, or depend on leftover memory (a comment that runs into
// the end of the file, a DEFINE that ends the input, an undefined hex1
// label), the twin returns an *Error naming the tool, the file and the line
// instead; it never panics.
//
// The formats were learned from the stage0-posix 1.9.1 sources (the
// hand-written tools, through their commented GAS twins) and mescc-tools
// 1.7.0 (hex2_linker.c, M1-macro.c, blood-elf.c); no code was taken from them.
package stage0

import (
	"bytes"
	"fmt"
)

// Arch is a target architecture, spelled as the mescc-tools --architecture
// flag spells it.
type Arch string

// The architectures the twins implement.
const (
	X86   Arch = "x86"
	AMD64 Arch = "amd64"
)

// ParseArch returns the Arch for an --architecture value or a stage0-posix
// directory name (x86, amd64, AMD64).
func ParseArch(s string) (Arch, error) {
	switch s {
	case "x86":
		return X86, nil
	case "amd64", "AMD64":
		return AMD64, nil
	}
	return "", fmt.Errorf("stage0: architecture %q: expected x86 or amd64", s)
}

func (a Arch) check(tool string) error {
	if a != X86 && a != AMD64 {
		return fmt.Errorf("%s: architecture %q: expected x86 or amd64", tool, string(a))
	}
	return nil
}

// File is one named input. The name is used only in error messages.
type File struct {
	Name string
	Data []byte
}

// Error is a malformed input, located by file and line.
type Error struct {
	Tool string // "hex1", "hex2-0", "hex2", "M0", "M1", "blood-elf"
	File string // the input's name; empty for an unnamed input
	Line int    // 1-based line number
	Msg  string // what is wrong, and what upstream would do where that matters

	// Undefined is set when upstream accepts the input but what it writes
	// depends on memory it never wrote or overran: no twin can match it, and
	// such an input has no single right output to re-derive.
	Undefined bool
}

func (e *Error) Error() string {
	if e.File != "" {
		return fmt.Sprintf("%s: %s:%d: %s", e.Tool, e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: line %d: %s", e.Tool, e.Line, e.Msg)
}

// lineAt returns the 1-based line of byte offset pos in src.
func lineAt(src []byte, pos int) int {
	if pos > len(src) {
		pos = len(src)
	}
	if pos < 0 {
		pos = 0
	}
	return 1 + bytes.Count(src[:pos], []byte{'\n'})
}

func errAt(tool string, f File, pos int, format string, args ...any) *Error {
	return &Error{Tool: tool, File: f.Name, Line: lineAt(f.Data, pos), Msg: fmt.Sprintf(format, args...)}
}

// undefinedAt is errAt for input on which upstream's output is undefined.
func undefinedAt(tool string, f File, pos int, format string, args ...any) *Error {
	e := errAt(tool, f, pos, format, args...)
	e.Undefined = true
	return e
}

// nibble is the value of a hex digit, or -1. Both cases are digits in every
// stage0 hex format.
func nibble(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// putLE appends the low n bytes of v, least significant first.
func putLE(out []byte, v uint64, n int) []byte {
	for i := 0; i < n; i++ {
		out = append(out, byte(v>>(8*i)))
	}
	return out
}

// putBE appends the low n bytes of v, most significant first.
func putBE(out []byte, v uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		out = append(out, byte(v>>(8*i)))
	}
	return out
}

// Catm returns its inputs concatenated, as catm writes them.
func Catm(inputs ...[]byte) []byte {
	n := 0
	for _, in := range inputs {
		n += len(in)
	}
	out := make([]byte, 0, n)
	for _, in := range inputs {
		out = append(out, in...)
	}
	return out
}
