package hex0

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func TestAssemble(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		want  []byte
		warns []int // line numbers of expected warnings
	}{
		{"empty", "", nil, nil},
		{"pair", "7F", []byte{0x7f}, nil},
		{"lower and upper", "ab AB 0f F0", []byte{0xab, 0xab, 0x0f, 0xf0}, nil},
		{"no separators", "7F454C46", []byte{0x7f, 'E', 'L', 'F'}, nil},
		{"hash comment", "01 # 02 03\n04", []byte{1, 4}, nil},
		{"semicolon comment", "01 ; 02\n03", []byte{1, 3}, nil},
		{"comment hides digits to end of line only", "#ff\n;ff\n10", []byte{0x10}, nil},
		{"tabs and CRLF", "01\t02\r\n03", []byte{1, 2, 3}, nil},
		{"odd digit dropped", "01 2", []byte{1}, []int{1}},
		{"byte across lines", "0\n1", []byte{1}, []int{2}},
		{"stray character", "01 zz 02", []byte{1, 2}, []int{1, 1}},
		{"digits around a stray character still pair", "0x41", []byte{0x04}, []int{1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Assemble(strings.NewReader(tt.src))
			if !bytes.Equal(got, tt.want) {
				t.Errorf("Assemble(%q) = % x, want % x", tt.src, got, tt.want)
			}
			var ws Warnings
			if tt.warns == nil {
				if err != nil {
					t.Fatalf("Assemble(%q): unexpected error %v", tt.src, err)
				}
				return
			}
			if !errors.As(err, &ws) {
				t.Fatalf("Assemble(%q): error %v, want Warnings", tt.src, err)
			}
			var lines []int
			for _, w := range ws {
				lines = append(lines, w.Line)
			}
			if len(lines) != len(tt.warns) {
				t.Fatalf("warnings at lines %v, want %v (%v)", lines, tt.warns, ws)
			}
			for i := range lines {
				if lines[i] != tt.warns[i] {
					t.Errorf("warning %d at line %d, want %d (%v)", i, lines[i], tt.warns[i], ws[i])
				}
			}
			lenient, err := AssembleLenient(strings.NewReader(tt.src))
			if err != nil || !bytes.Equal(lenient, tt.want) {
				t.Errorf("AssembleLenient(%q) = % x, %v; want % x, nil", tt.src, lenient, err, tt.want)
			}
		})
	}
}

// TestGolden assembles every testdata/*.hex0 and compares with its .golden
// twin (the bytes, hex-dumped for review).
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.hex0")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.hex0 golden inputs")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Assemble(bytes.NewReader(src))
			var ws Warnings
			if err != nil && !errors.As(err, &ws) {
				t.Fatal(err)
			}
			got := dump(out, ws)
			golden := strings.TrimSuffix(f, ".hex0") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s: assembled output differs from %s:\ngot:\n%s\nwant:\n%s", f, golden, got, want)
			}
		})
	}
}

func dump(b []byte, ws Warnings) string {
	var sb strings.Builder
	for i := 0; i < len(b); i += 16 {
		end := min(i+16, len(b))
		sb.WriteString(strings.ToUpper(strings.TrimSpace(spaced(b[i:end]))))
		sb.WriteByte('\n')
	}
	for _, w := range ws {
		sb.WriteString("warning: " + w.String() + "\n")
	}
	return sb.String()
}

func spaced(b []byte) string {
	const digits = "0123456789abcdef"
	var sb strings.Builder
	for _, c := range b {
		sb.WriteByte(digits[c>>4])
		sb.WriteByte(digits[c&15])
		sb.WriteByte(' ')
	}
	return sb.String()
}

// FuzzAssemble checks invariants of the Go assembler on any input: it never
// fails on a reader that does not fail, the output length is half the number
// of digits outside comments, and removing every comment and non-digit does
// not change the output.
func FuzzAssemble(f *testing.F) {
	for _, s := range []string{"", "7F454C46", "01 # c\n02", "0\n1;x\n2", "zz9"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		out, err := AssembleLenient(bytes.NewReader(src))
		if err != nil {
			t.Fatalf("AssembleLenient: %v", err)
		}
		var digits []byte
		comment := false
		for _, c := range src {
			switch {
			case c == '\n':
				comment = false
			case comment:
			case c == '#' || c == ';':
				comment = true
			default:
				if _, ok := nibble(c); ok {
					digits = append(digits, c)
				}
			}
		}
		if len(out) != len(digits)/2 {
			t.Fatalf("%d bytes out for %d digits", len(out), len(digits))
		}
		again, _ := AssembleLenient(bytes.NewReader(digits))
		if !bytes.Equal(out, again) {
			t.Fatalf("stripped source assembles differently: % x vs % x", out, again)
		}
	})
}
