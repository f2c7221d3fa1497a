package termsafe

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"out/hello.txt", "out/hello.txt"},
		{"tab\tstays, so do \\ and ünïcödé", "tab\tstays, so do \\ and ünïcödé"},
		{"red\x1b[31mtext\x1b[0m", `red\x1b[31mtext\x1b[0m`},
		{"title\x1b]0;pwned\x07", `title\x1b]0;pwned\x07`},
		{"over\rwrite", `over\rwrite`},
		{"two\nlines", `two\nlines`},
		{"del\x7f nul\x00", `del\x7f nul\x00`},
		{"c1 csi \u009b2J", `c1 csi \u009b2J`},
		{"bidi \u202eevil\u202c", `bidi \u202eevil\u202c`},
		{"bad \xff\xfe utf-8", `bad \xff\xfe utf-8`},
		{"an honest U+FFFD \ufffd", "an honest U+FFFD \ufffd"},
	} {
		if got := Escape(tc.in); got != tc.want {
			t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzEscape: whatever goes in, nothing a terminal acts on comes out, and
// safe text comes out unchanged.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"plain", "\x1b[2J", "\u009b", "\xff", "a\r\nb", "\u2066x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Escape(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Escape(%q) = %q: not UTF-8", s, got)
		}
		for i, r := range got {
			if unsafe(r, utf8.RuneLen(r)) {
				t.Fatalf("Escape(%q) = %q: %U at %d", s, got, r, i)
			}
		}
		if !strings.ContainsFunc(s, func(r rune) bool { return unsafe(r, utf8.RuneLen(r)) }) && utf8.ValidString(s) && got != s {
			t.Fatalf("Escape(%q) = %q: safe text changed", s, got)
		}
	})
}

func TestWriter(t *testing.T) {
	var b strings.Builder
	w := Writer{&b}
	for _, s := range []string{"chain x86\tok\n", "file bin/\x1b]0;title\x07x\x1b[31m:\n", "\u202eevil\r\n"} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	want := "chain x86\tok\nfile bin/\\x1b]0;title\\x07x\\x1b[31m:\n\\u202eevil\\r\n"
	if b.String() != want {
		t.Errorf("written %q; expected %q", b.String(), want)
	}
}
