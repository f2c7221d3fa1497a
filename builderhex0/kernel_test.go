package builderhex0

import (
	"bytes"
	"strings"
	"testing"
)

func TestCheckScript(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		err          string // "" for a script the shell reads whole
	}{
		{"empty", "", ""},
		{"commands", "src 0 /\nhex0 /a.hex0 /a\n/kaem /run.kaem\n", ""},
		{"zeros in a file", "src 4 /x.gz\n\x1f\x8b\x00\x00/kaem /run.kaem\n", ""},
		{"a file that is a line feed", "src 1 /nl\n\n/kaem /run.kaem\n", ""},
		{"zero in a command", "hex0 /a\x00 /b\n", "a zero byte at offset 7, in a command line"},
		{"zero after a file", "src 1 /x\nA\x00/kaem\n", "a zero byte at offset 10, in a command line"},
		{"count beyond the end", "src 5 /x\nAB", "src /x: expected 5 bytes after its line, found 2"},
		{"count not a number", "src x1 /x\n", `"src x1 /x" at offset 0: expected src COUNT NAME`},
		{"count with a sign", "src +1 /x\nA", `"src +1 /x" at offset 0: expected src COUNT NAME`},
		{"no name", "src 1\nA", `"src 1" at offset 0: expected src COUNT NAME`},
		{"no line feed", "/kaem /run.kaem", "the command at offset 0 has no line feed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckScript([]byte(tc.script))
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("CheckScript: %v, want no error", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("CheckScript: %v, want an error containing %q", err, tc.err)
			}
		})
	}
}

// TestImageZeroInFile: a file whose bytes hold zeros (a gzip archive the
// chain places whole) enters the disk; the script still ends in one zero.
func TestImageZeroInFile(t *testing.T) {
	k := Kernel{Stage1: make([]byte, SectorSize), Stage2: []byte("00\n")}
	script := []byte("src 3 /a.gz\n\x1f\x00\x8b/kaem /run.kaem\n")
	b, err := Image(k, script)
	if err != nil {
		t.Fatalf("Image: %v", err)
	}
	got := b[ScriptSector*SectorSize:]
	if !bytes.HasPrefix(got, append(append([]byte{}, script...), 0)) || len(b)%SectorSize != 0 {
		t.Fatalf("Image: the script area is %q..., want the script, a zero byte, padding to a sector", got[:min(len(got), 40)])
	}
	if _, err := Image(k, []byte("hex0 /a\x00\n")); err == nil {
		t.Fatal("Image: a zero byte in a command line was accepted")
	}
}

// FuzzCheckScript: CheckScript never panics, and a script it accepts has
// no zero byte where a command starts.
func FuzzCheckScript(f *testing.F) {
	f.Add([]byte("src 0 /\nsrc 2 /a\n\x00\x00hex0 /a /b\n"))
	f.Add([]byte("src 99999999999999999999 /a\n"))
	f.Add([]byte("src -1 /a\n"))
	f.Add([]byte("src +1 /a\nB\n"))
	f.Fuzz(func(t *testing.T, script []byte) {
		if CheckScript(script) != nil {
			return
		}
		for off := 0; off < len(script); {
			if script[off] == 0 {
				t.Fatalf("accepted %q with a zero byte at command offset %d", script, off)
			}
			nl := bytes.IndexByte(script[off:], '\n')
			line := script[off : off+nl]
			off += nl + 1
			if rest, ok := bytes.CutPrefix(line, []byte("src ")); ok {
				var n int
				for _, c := range rest {
					if c == ' ' {
						break
					}
					n = n*10 + int(c-'0')
				}
				off += n
			}
		}
	})
}
