package stage0

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/bootchain/bootchain/hex0"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/ and run as ordinary
// tests; go test -fuzz=FuzzM1 ./stage0 explores from them.

// checkErr requires a twin's error to be an *Error on a line of its input.
func checkErr(t *testing.T, err error, inputs ...[]byte) {
	t.Helper()
	if err == nil {
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	max := 1
	for _, in := range inputs {
		max = maxInt(max, 1+bytes.Count(in, []byte{'\n'}))
	}
	if e.Line < 1 || e.Line > max {
		t.Fatalf("error %q is on line %d; the input has %d lines", err, e.Line, max)
	}
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func FuzzHex1(f *testing.F) {
	f.Add([]byte(":a 90 %a\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		x86, errX86 := Hex1(src, X86)
		checkErr(t, errX86, src)
		a64, errA64 := Hex1(src, AMD64)
		checkErr(t, errA64, src)
		if bytes.IndexByte(src, 0xFC) < 0 {
			if (errX86 == nil) != (errA64 == nil) || !bytes.Equal(x86, a64) {
				t.Fatalf("x86 and amd64 differ without a 0xFC byte: % X (%v) vs % X (%v)", x86, errX86, a64, errA64)
			}
		}
		// Without labels, pointers or carriage returns, hex1 is hex0.
		if errX86 == nil && !bytes.ContainsAny(src, ":%\r") {
			want, err := hex0.AssembleLenient(bytes.NewReader(src))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(x86, want) {
				t.Fatalf("Hex1 = % X, hex0 = % X", x86, want)
			}
		}
	})
}

func FuzzHex2(f *testing.F) {
	f.Add([]byte(":a 90 %a\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		opts := Hex2Options{Arch: X86, BaseAddress: SeedBaseAddress(X86)}
		out, err := Hex2(src, opts)
		checkErr(t, err, src)
		seed, seedErr := Hex2Seed(src, X86)
		checkErr(t, seedErr, src)
		_, err64 := Hex2(src, Hex2Options{Arch: AMD64, BigEndian: true})
		checkErr(t, err64, src)

		// Without labels or pointers, every hex2 is hex1.
		if !bytes.ContainsAny(src, ":!@$~%&") {
			want, err1 := Hex1(src, X86)
			if err1 == nil && (err != nil || !bytes.Equal(out, want)) {
				t.Fatalf("Hex2 = % X (%v), Hex1 = % X", out, err, want)
			}
			if err1 == nil && (seedErr != nil || !bytes.Equal(seed, want)) {
				t.Fatalf("Hex2Seed = % X (%v), Hex1 = % X", seed, seedErr, want)
			}
		}
		// The first pass must count exactly the bytes the second writes: a
		// label appended at the end has the address base + output length.
		if !bytes.ContainsAny(src, "#;") {
			end, err := Hex2(append(append([]byte{}, src...), "\n:ZZend\n&ZZend\n"...), opts)
			if err == nil {
				if len(end) < 4 {
					t.Fatalf("output % X lacks the appended pointer", end)
				}
				n := len(end) - 4
				if got, want := binary.LittleEndian.Uint32(end[n:]), uint32(opts.BaseAddress)+uint32(n); got != want {
					t.Fatalf("label after %d bytes has address %#x, want %#x", n, got, want)
				}
			}
		}
	})
}

func FuzzM1(f *testing.F) {
	f.Add([]byte("DEFINE a 90\na 'CD' \"x\" %1 :l %l\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		out, err := M1(src, M1Options{Arch: X86})
		checkErr(t, err, src)
		if err == nil && !bytes.HasSuffix(out, []byte("\n")) {
			t.Fatalf("M1 output %q does not end in a line end", out)
		}
		_, err64 := M1(src, M1Options{Arch: AMD64, BigEndian: true})
		checkErr(t, err64, src)
		// Splitting the input after a line end into two files changes
		// nothing the two can both read.
		if i := bytes.IndexByte(src, '\n'); err == nil && i >= 0 {
			a, b := src[:i+1], src[i+1:]
			split, err := M1Files([]File{{"a", a}, {"b", b}}, M1Options{Arch: X86})
			if err == nil && !bytes.Equal(split, out) {
				t.Fatalf("M1 of %q split after byte %d = %q, whole = %q", src, i, split, out)
			}
		}
	})
}

func FuzzM0(f *testing.F) {
	f.Add([]byte("DEFINE a 90\na 'CD' \"x\" %1 :l %l\nx\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		out, err := M0(src, X86)
		checkErr(t, err, src)
		_, err64 := M0(src, AMD64)
		checkErr(t, err64, src)
		if err == nil && (len(out) == 0 || out[len(out)-1] != '\n') {
			t.Fatalf("M0 output %q is not whole lines", out)
		}
	})
}

func FuzzBloodElf(f *testing.F) {
	f.Add([]byte(":main\n:_start 'x' \"y\" ;z\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		out, err := BloodElf([]File{{"in", src}}, BloodElfOptions{Bits64: len(src)%2 == 0})
		checkErr(t, err, src)
		if err == nil && !strings.HasSuffix(string(out), "\n:ELF_end\n") {
			t.Fatalf("footer does not end with :ELF_end")
		}
	})
}
