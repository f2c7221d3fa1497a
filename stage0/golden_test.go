package stage0

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// hexDump renders binary output for golden files: offset, then up to 16
// bytes in hex.
func hexDump(b []byte) string {
	var sb strings.Builder
	for i := 0; i < len(b); i += 16 {
		end := min(i+16, len(b))
		fmt.Fprintf(&sb, "%04x: % X\n", i, b[i:end])
	}
	if len(b) == 0 {
		sb.WriteString("(empty)\n")
	}
	return sb.String()
}

// goldenResult is what a golden file holds: the output, or the error.
func goldenResult(out []byte, err error, binary bool) string {
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return "unexpected error type: " + err.Error() + "\n"
		}
		return "error: " + err.Error() + "\n"
	}
	if binary {
		return hexDump(out)
	}
	return string(out)
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./stage0 -run TestGolden -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the twin's output:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// goldenCases lists, per input extension, the twins run on each input and
// the suffix of the golden file each one's result goes to.
var goldenCases = map[string][]struct {
	suffix string
	binary bool
	run    func(name string, src []byte) ([]byte, error)
}{
	".hex1": {
		{".x86.golden", true, func(_ string, src []byte) ([]byte, error) { return Hex1(src, X86) }},
		{".amd64.golden", true, func(_ string, src []byte) ([]byte, error) { return Hex1(src, AMD64) }},
	},
	".hex2": {
		{".hex2.golden", true, func(_ string, src []byte) ([]byte, error) {
			return Hex2(src, Hex2Options{Arch: X86, BaseAddress: 0x8048000})
		}},
		{".hex2-0.golden", true, func(_ string, src []byte) ([]byte, error) { return Hex2Seed(src, X86) }},
	},
	".M1": {
		{".M1.golden", false, func(_ string, src []byte) ([]byte, error) { return M1(src, M1Options{Arch: X86}) }},
		{".M0.golden", false, func(_ string, src []byte) ([]byte, error) { return M0(src, X86) }},
		{".blood-elf.golden", false, func(name string, src []byte) ([]byte, error) {
			return BloodElf([]File{{Name: name, Data: src}}, BloodElfOptions{})
		}},
	},
}

func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, in := range inputs {
		cases, ok := goldenCases[filepath.Ext(in)]
		if !ok {
			continue
		}
		src, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			t.Run(filepath.Base(in)+c.suffix, func(t *testing.T) {
				out, err := c.run(filepath.Base(in), src)
				checkGolden(t, strings.TrimSuffix(in, filepath.Ext(in))+c.suffix, goldenResult(out, err, c.binary))
			})
			n++
		}
	}
	if n == 0 {
		t.Fatal("no golden inputs under testdata/")
	}
}

// TestGoldenM1ThenHex2 links the M1 examples the way the chain does, M1 then
// hex2 behind an ELF header, and checks the program's bytes.
func TestGoldenM1ThenHex2(t *testing.T) {
	src, err := os.ReadFile("testdata/m1/hello.M1")
	if err != nil {
		t.Fatal(err)
	}
	text, err := M1(src, M1Options{Arch: X86})
	if err != nil {
		t.Fatal(err)
	}
	bin, err := Hex2(text, Hex2Options{Arch: X86, BaseAddress: 0x8048000})
	if err != nil {
		t.Fatal(err)
	}
	// _start at 0x8048000, msg after 6 instructions of 5 bytes and two int 0x80.
	want := []byte{
		0xB8, 4, 0, 0, 0, 0xBB, 1, 0, 0, 0,
		0xB9, 0x22, 0x80, 0x04, 0x08, // mov ecx, &msg = 0x8048022
		0xBA, 6, 0, 0, 0, 0xCD, 0x80,
		0xB8, 1, 0, 0, 0, 0xBB, 0, 0, 0, 0, 0xCD, 0x80,
		'h', 'e', 'l', 'l', 'o', '\n', 0,
	}
	if !bytes.Equal(bin, want) {
		t.Errorf("M1 | hex2 = % X\nwant          % X", bin, want)
	}
	// M0 must link to the same bytes.
	text0, err := M0(src, X86)
	if err != nil {
		t.Fatal(err)
	}
	bin0, err := Hex2Seed(text0, X86)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bin0, want) {
		t.Errorf("M0 | hex2-0 = % X\nwant           % X", bin0, want)
	}
}
