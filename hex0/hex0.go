// Package hex0 holds bootchain's seeds as commented hex0 source and the Go
// reference implementation of the hex0 format, so that the seeds can be
// reproduced on any host with no tool but this binary, and so that the seeds'
// own behaviour can be checked against an independent implementation.
//
// The format, as the seeds implement it: pairs of hexadecimal digits (upper or
// lower case) become one byte each, the first digit being the high nibble; '#'
// and ';' start a comment that runs to the end of the line ('\n'); every other
// byte is ignored. A digit left over at the end of the input (an odd number of
// digits in all) is dropped: the seeds only write a byte once they have both of
// its nibbles.
package hex0

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Warning is a place where the source is malformed in a way the seeds accept
// silently. The output is still what a seed would write.
type Warning struct {
	Line int    // 1-based line number
	Msg  string // what is wrong and what the seed does with it
}

func (w Warning) String() string { return fmt.Sprintf("line %d: %s", w.Line, w.Msg) }

// Warnings is the error Assemble returns when the source assembled but has
// warnings. Callers that accept what the seed accepts can ignore it with
// errors.As.
type Warnings []Warning

func (ws Warnings) Error() string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = w.String()
	}
	return "hex0: " + strings.Join(parts, "; ")
}

// Assemble reads hex0 source from r and returns the bytes a hex0 seed writes
// for it. If the source has constructs the seed accepts silently (an odd
// digit, a byte split across lines, stray characters), the bytes are returned
// together with a Warnings error listing each with its line number; an I/O
// error is returned wrapped, with the bytes assembled so far.
func Assemble(r io.Reader) ([]byte, error) {
	br := bufio.NewReader(r)
	var (
		out      []byte
		warns    Warnings
		line     = 1
		high     byte
		haveHigh bool
		highLine int
		comment  bool
	)
	for {
		c, err := br.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, fmt.Errorf("hex0: read line %d: %w", line, err)
		}
		if c == '\n' {
			line++
			comment = false
			continue
		}
		if comment {
			continue
		}
		if c == '#' || c == ';' {
			comment = true
			continue
		}
		v, ok := nibble(c)
		if !ok {
			if c != ' ' && c != '\t' && c != '\r' && c != '\f' && c != '\v' {
				warns = append(warns, Warning{line, fmt.Sprintf("character %q is not a hex digit and is ignored", c)})
			}
			continue
		}
		if !haveHigh {
			high, haveHigh, highLine = v, true, line
			continue
		}
		if highLine != line {
			warns = append(warns, Warning{line, fmt.Sprintf("byte %02X starts on line %d and ends on line %d", high<<4|v, highLine, line)})
		}
		out = append(out, high<<4|v)
		haveHigh = false
	}
	if haveHigh {
		warns = append(warns, Warning{highLine, "odd number of hex digits: the last digit has no partner and is dropped"})
	}
	if len(warns) > 0 {
		return out, warns
	}
	return out, nil
}

// AssembleLenient is Assemble without warnings: it returns exactly what a seed
// writes and fails only on I/O errors.
func AssembleLenient(r io.Reader) ([]byte, error) {
	out, err := Assemble(r)
	var ws Warnings
	if errors.As(err, &ws) {
		return out, nil
	}
	return out, err
}

func nibble(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
