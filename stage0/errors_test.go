package stage0

import (
	"errors"
	"strings"
	"testing"
)

// TestErrors feeds each twin malformed input and checks that it is rejected
// with an *Error on the right line, saying the right thing.
func TestErrors(t *testing.T) {
	hex2 := func(src string) error {
		_, err := Hex2([]byte(src), Hex2Options{Arch: X86, BaseAddress: 0x8048000})
		return err
	}
	tests := []struct {
		name string
		run  func() error
		line int
		msg  string
	}{
		{"hex1 undefined label", func() error { _, err := Hex1([]byte("00\n11 %x\n"), X86); return err }, 2, `label 'x' is used but never defined`},
		{"hex1 colon at end", func() error { _, err := Hex1([]byte("00\n\n:"), X86); return err }, 3, `':' is the last byte`},
		{"hex1 percent at end", func() error { _, err := Hex1([]byte(":a\n%"), AMD64); return err }, 2, `'%' is the last byte`},
		{"hex1 NUL label", func() error { _, err := Hex1([]byte("\n:\x00"), X86); return err }, 2, "NUL"},
		{"hex1 unterminated comment", func() error { _, err := Hex1([]byte("00\n# no newline"), X86); return err }, 2, "comment runs into the end"},
		{"hex1 bad arch", func() error { _, err := Hex1(nil, "armv7l"); return err }, 0, `architecture "armv7l"`},

		{"hex2 undefined target", func() error { return hex2(":a\n%a\n%b\n") }, 3, `target label "b" is not defined`},
		{"hex2 undefined base", func() error { return hex2(":a\n\n%a>c\n") }, 3, `base label "c" is not defined`},
		{"hex2 1-byte range", func() error { return hex2(":a\n" + strings.Repeat("00", 200) + "\n!a\n") }, 3, "relative displacement -201 does not fit in 1 byte"},
		{"hex2 2-byte absolute", func() error { return hex2(":a $a") }, 1, "absolute address 134512640 does not fit in 2 byte"},
		{"hex2 2-byte range, second file", func() error {
			_, err := Hex2Files([]File{{"one", []byte(":a\n" + strings.Repeat("00", 40000))}, {"two", []byte("\n@a\n")}}, Hex2Options{Arch: X86, BaseAddress: 1 << 24})
			return err
		}, 2, "two:2: @a: relative displacement -40002 does not fit in 2 byte"},
		{"hex2 long name", func() error { return hex2("\n\n:" + strings.Repeat("n", 4096)) }, 3, "exceeds the 4095-byte limit"},
		{"hex2 NUL in name", func() error { return hex2(":a\x00b\n") }, 1, "NUL"},

		{"hex2-0 undefined", func() error { _, err := Hex2Seed([]byte(":a\n%b\n"), X86); return err }, 2, `target label "b" is not defined`},
		{"hex2-0 name at end", func() error { _, err := Hex2Seed([]byte("00\n:a"), X86); return err }, 2, "name runs into the end"},
		{"hex2-0 comment at end", func() error { _, err := Hex2Seed([]byte("00\n\n;x"), AMD64); return err }, 3, "comment runs into the end"},

		{"M1 invalid token", func() error { _, err := M1([]byte("DEFINE a 90\na\n\nb\n"), M1Options{Arch: X86}); return err }, 4, `"b" is not a macro`},
		{"M1 unmatched quote", func() error { _, err := M1([]byte("'00'\n\"abc\ndef"), M1Options{Arch: X86}); return err }, 2, "unmatched \""},
		{"M1 range", func() error { _, err := M1([]byte("\n!257\n"), M1Options{Arch: X86}); return err }, 2, "value 257 does not fit in 1 byte"},
		{"M1 range in unused DEFINE value", func() error { _, err := M1([]byte("90\nDEFINE a @40000\n"), M1Options{Arch: X86}); return err }, 2, "value 40000 does not fit in 2 byte"},
		{"M1 negative padding", func() error { _, err := M1([]byte("<-1\n"), M1Options{Arch: X86}); return err }, 1, "negative padding"},
		{"M1 DEFINE without value", func() error { _, err := M1([]byte("\n\nDEFINE"), M1Options{Arch: X86}); return err }, 3, "without a macro value"},
		{"M1 empty", func() error { _, err := M1([]byte("# nothing\n\n"), M1Options{Arch: X86}); return err }, 1, "no tokens"},
		{"M1 NUL", func() error { _, err := M1([]byte("90\n9\x000\n"), M1Options{Arch: X86}); return err }, 2, "NUL"},
		{"M1 high byte in string", func() error { _, err := M1([]byte("'00'\n\"\xe9\"\n"), M1Options{Arch: X86}); return err }, 2, "byte 0xE9"},
		{"M1 named file", func() error {
			_, err := M1Files([]File{{"a.M1", []byte("'00'\n")}, {"b.M1", []byte("\n\nzz\n")}}, M1Options{Arch: AMD64})
			return err
		}, 3, "b.M1:3:"},

		{"M0 empty", func() error { _, err := M0([]byte("# nothing\n"), X86); return err }, 2, "no tokens"},
		{"M0 token at end", func() error { _, err := M0([]byte("00\n11"), X86); return err }, 2, "token runs into the end"},
		{"M0 unmatched", func() error { _, err := M0([]byte("00\n'11\n"), X86); return err }, 2, "unmatched '"},
		{"M0 comment at end", func() error { _, err := M0([]byte("00\n;"), AMD64); return err }, 2, "comment runs into the end"},
		{"M0 DEFINE last", func() error { _, err := M0([]byte("00\nDEFINE a b\n"), X86); return err }, 2, "last thing"},
		{"M0 DEFINE short", func() error { _, err := M0([]byte("00\nDEFINE a\n"), X86); return err }, 2, "without a name and value"},
		{"M0 long token", func() error { _, err := M0([]byte("\n"+strings.Repeat("x", 256)+"\n"), X86); return err }, 2, "overruns"},

		{"blood-elf colon at end", func() error { _, err := BloodElf([]File{{"f.M1", []byte("\n:")}}, BloodElfOptions{}); return err }, 2, "f.M1:2: ':' at the end"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", err, tc.msg)
			}
			var e *Error
			if tc.line == 0 {
				if errors.As(err, &e) {
					t.Errorf("error %v is an *Error; expected a usage error", err)
				}
				return
			}
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not an *Error", err, err)
			}
			if e.Line != tc.line {
				t.Errorf("error %q is on line %d, expected %d", err, e.Line, tc.line)
			}
		})
	}
}
