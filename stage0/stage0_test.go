package stage0

import (
	"bytes"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHex1(t *testing.T) {
	tests := []struct {
		name, src string
		arch      Arch
		want      string
	}{
		{"plain hex", "0A 1b\tC d\n", X86, "0A1BCD"},
		{"forward and backward", ":a 90 %b 90 :b %a", X86, "90 01000000 90 F6FFFFFF"},
		{"label between digits lands after the byte", "1 :m 2 %m", X86, "12 FCFFFFFF"},
		{"odd digit dropped", "123", X86, "12"},
		{"other prefixes ignored", "!1@2$3&4", AMD64, "1234"},
		{"comment to CR", "#x\r00;y\n11", X86, "0011"},
		{"x86: 0xFC is ignored", "00\xfc11", X86, "0011"},
		{"amd64: 0xFC ends the input", "00\xfc11", AMD64, "00"},
		{"amd64: 0xFC as a label", ":\xfc 00 %\xfc", AMD64, "00 FBFFFFFF"},
		{"label byte may be a digit or newline", ":\n %\n", X86, "FCFFFFFF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Hex1([]byte(tc.src), tc.arch)
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, tc.want); !bytes.Equal(got, want) {
				t.Errorf("Hex1(%q) = % X, want % X", tc.src, got, want)
			}
		})
	}
}

func TestHex2(t *testing.T) {
	tests := []struct {
		name string
		src  string
		opts Hex2Options
		seed bool // also expect Hex2Seed to agree (its base is fixed)
		want string
	}{
		{"absolute 4", ":a 90 &a", Hex2Options{Arch: X86, BaseAddress: 0x8048000}, true, "90 00800408"},
		{"relative kinds", ":a !a @a %a", Hex2Options{Arch: X86, BaseAddress: 0x8048000}, true, "FF FDFF F9FFFFFF"},
		{"3-byte", ":a ~a", Hex2Options{Arch: AMD64}, false, "FDFFFF"},
		{"big endian", ":a 90 &a @a", Hex2Options{Arch: X86, BaseAddress: 0x1000, BigEndian: true}, false, "90 00001000 FFF9"},
		{"base label", ":a 90 :b %b>a %a>b", Hex2Options{Arch: AMD64, BaseAddress: 0x600000}, true, "90 01000000 FFFFFFFF"},
		{"names end at '>' in labels too", ":a>90 %a", Hex2Options{Arch: X86, BaseAddress: 0x8048000}, true, "90 FBFFFFFF"},
		{"last definition wins", ":d :x 90 :x %x", Hex2Options{Arch: X86, BaseAddress: 0x8048000}, true, "90 FCFFFFFF"},
		{"name runs into comment chars", ":a#b 90 %a#b", Hex2Options{Arch: X86, BaseAddress: 0x8048000}, true, "90 FBFFFFFF"},
		{"empty name", ": 90 % ", Hex2Options{Arch: X86, BaseAddress: 0x8048000}, true, "90 FBFFFFFF"},
		{"alignment is a no-op", "01<02^03", Hex2Options{Arch: X86, BaseAddress: 0x8048000}, true, "010203"},
		{"x86 wraps at 32 bits", ":a &a", Hex2Options{Arch: X86, BaseAddress: 0x1_0000_0010}, false, "10000000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := unhex(t, tc.want)
			got, err := Hex2([]byte(tc.src), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Hex2(%q) = % X, want % X", tc.src, got, want)
			}
			if !tc.seed {
				return
			}
			got, err = Hex2Seed([]byte(tc.src+"\n"), tc.opts.Arch)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Hex2Seed(%q) = % X, want % X", tc.src, got, want)
			}
		})
	}
}

func TestHex2Differences(t *testing.T) {
	// mescc-tools hex2 starts every file with no pending digit, and places
	// a label between two digits before their byte; hex2-0 reads one file,
	// and its first pass places such a label after the byte.
	files := []File{{"a", []byte("1")}, {"b", []byte("2 :m 3 %m")}}
	got, err := Hex2Files(files, Hex2Options{Arch: X86})
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "23 FBFFFFFF"); !bytes.Equal(got, want) {
		t.Errorf("Hex2Files = % X, want % X", got, want)
	}
	got, err = Hex2Seed([]byte("2 :m 3 %m\n"), X86)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "23 FCFFFFFF"); !bytes.Equal(got, want) {
		t.Errorf("Hex2Seed = % X, want % X", got, want)
	}
	// hex2-0 truncates what hex2 range-checks, and does not know '~'.
	got, err = Hex2Seed([]byte(":a\n"+strings.Repeat("00", 200)+" !a ~a0\n"), X86)
	if err != nil {
		t.Fatal(err)
	}
	if tail := got[200:]; !bytes.Equal(tail, []byte{0x37, 0xA0}) {
		t.Errorf("Hex2Seed tail = % X, want 37 A0 (-201 truncated, then the digits of \"a0\")", tail)
	}
}

func TestStrtoint(t *testing.T) {
	tests := []struct {
		in       string
		x86, a64 int64
	}{
		{"", 0, 0},
		{"42", 42, 42},
		{"-42", -42, -42},
		{"0x1F", 31, 31},
		{"0xab", 171, 171},
		{"0x-10", -16, -16},
		{"-0x10", 0, 0},
		{"010", 8, 8},
		{"08", 0, 0},
		{"0b101", 5, 5},
		{"1_000", 1000, 1000},
		{"12a", 0, 0},
		{"4294967295", -1, -1},
		{"4294967296", 0, -2147483648},
		{"2147483648", -2147483648, -2147483648},
		{"0x7FFFFFFF", 0x7FFFFFFF, 0x7FFFFFFF},
	}
	for _, tc := range tests {
		if got := strtoint(tc.in, X86); got != tc.x86 {
			t.Errorf("strtoint(%q, x86) = %d, want %d", tc.in, got, tc.x86)
		}
		if got := strtoint(tc.in, AMD64); got != tc.a64 {
			t.Errorf("strtoint(%q, amd64) = %d, want %d", tc.in, got, tc.a64)
		}
	}
}

func TestM1(t *testing.T) {
	tests := []struct {
		name, src, want string
		opts            M1Options
	}{
		{"tokens keep their lines", "'01' '02'\n\n\n'03'\n", "01 02\n03\n", M1Options{Arch: X86}},
		{"leading DEFINE leaves a line end", "DEFINE a 90\na\n", "\n90\n", M1Options{Arch: X86}},
		{"string spacing", "\"A\" 'B'\n", "41 00  B\n", M1Options{Arch: X86}},
		{"macro before its DEFINE", "a\nDEFINE a 90\n", "90\n", M1Options{Arch: X86}},
		{"last DEFINE wins", "a\nDEFINE a 01\na\nDEFINE a 02\n", "02\n02\n", M1Options{Arch: X86}},
		{"DEFINE value is a line end", "DEFINE a\n'00' a\n", "\n00 \n\n", M1Options{Arch: X86}},
		{"big endian", "%0x01020304 @0x0102 ~1\n", "01020304 0102 000001\n", M1Options{Arch: X86, BigEndian: true}},
		{"CR is part of a token", "DEFINE a\r 90\na\r\n", "\n90\n", M1Options{Arch: X86}},
		{"amd64 overflow quirk", "%4294967296\n", "00000080\n", M1Options{Arch: AMD64}},
		{"padding", "<3 <0x2\n", "000000 0000\n", M1Options{Arch: X86}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := M1([]byte(tc.src), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("M1(%q) = %q, want %q", tc.src, got, tc.want)
			}
		})
	}
	got, err := M1Files([]File{{"defs", []byte("DEFINE a 90\n")}, {"prog", []byte("a a\n")}}, M1Options{Arch: X86})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "\n90 90\n" {
		t.Errorf("M1Files = %q", got)
	}
}

func TestM0(t *testing.T) {
	tests := []struct {
		name, src, want string
		arch            Arch
	}{
		{"one token per line", "'01' '02'\n\n'03'\n", "01\n02\n03\n", X86},
		{"DEFINE applies after", "a\nDEFINE a 90\na\n", "a\n90\n", X86},
		{"DEFINE value kept as written", "DEFINE a '90'\na\n", "'90\n", X86},
		{"strings without spaces", "\"AB\"\n", "414200\n", X86},
		{"any first character takes a number", "x5 @-1 %0x1F 0\n", "05\nFFFF\n1F000000\n0\n", X86},
		{"upper-case hex only", "%0xab %0x1F %1x1F\n", "00000000\n1F000000\n1F000000\n", X86},
		{"':' counts as a hex digit", "!0x1:\n", "13\n", X86},
		{"comments end at LF only", "'00' #a\rb\n'11'\n", "00\n11\n", X86},
		{"NUL starts a comment", "'00' \x00 x\n'11'\n", "00\n11\n", X86},
		{"a bare number loses its first digit", "11 90\n", "01\n00\n", X86},
		{"NUL ends a token", "00\x00x\n", "00\nx\n", X86},
		{"0xFC ends the input", "00\n\xfc11 22", "00\n", X86},
		{"x86 wraps at 32 bits", "%4294967297\n", "01000000\n", X86},
		{"amd64 tests 64 bits for zero", "%4294967296 %x\n", "00000000\n%x\n", AMD64},
		{"x86 sees zero", "%4294967296\n", "%4294967296\n", X86},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := M0([]byte(tc.src), tc.arch)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("M0(%q) = %q, want %q", tc.src, got, tc.want)
			}
		})
	}
}

func TestBloodElf(t *testing.T) {
	src := []byte(":main ':x' \"#:not\" # :comment\n:_hidden ;:no\n:a>b\n")
	out, err := BloodElf([]File{{"p.M1", src}}, BloodElfOptions{Entries: []string{"_start"}})
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{
		":ELF_str__start\t\"_start\"\n:ELF_str_main\t\"main\"\n:ELF_str_x'\t\"x'\"\n:ELF_str__hidden\t\"_hidden\"\n:ELF_str_a\t\"a\"\n# END",
		"'03000000'\t#sh_link\n'06000000'\t#sh_info\n", // 5 names + the NULL symbol
		"&_start\t#st_value\n'00000000'\t# st_size (unknown size)\n'02'\t# st_info (FUNC)\n'00'\t# st_other (default)\n",
		"&_hidden\t#st_value\n'00000000'\t# st_size (unknown size)\n'02'\t# st_info (FUNC)\n'02'\t# st_other (hidden)\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("footer lacks %q", want)
		}
	}
	if strings.Contains(s, "not") || strings.Contains(s, "comment") || strings.Contains(s, "no\"") {
		t.Errorf("footer names a label inside a string or comment:\n%s", s)
	}
	out64, err := BloodElf([]File{{"p.M1", src}}, BloodElfOptions{Bits64: true, BigEndian: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out64), "&main '00000000'\t# st_value\n") || !strings.Contains(string(out64), "'00000018' '00000000'\t#sh_entsize\n") {
		t.Errorf("64-bit big-endian footer is not as expected:\n%s", out64)
	}
}

func TestCatm(t *testing.T) {
	if got := Catm([]byte("ab"), nil, []byte("c")); string(got) != "abc" {
		t.Errorf("Catm = %q", got)
	}
	if got := Catm(); len(got) != 0 {
		t.Errorf("Catm() = %q", got)
	}
}

func TestIdentifyTool(t *testing.T) {
	tests := []struct {
		program, tool string
		arch          Arch
		ok            bool
	}{
		{"./bootstrap-seeds/POSIX/x86/hex0-seed", ToolHex0, X86, true},
		{"./x86/artifact/hex1", ToolHex1, X86, true},
		{"./AMD64/artifact/hex2-0", ToolHex2Seed, AMD64, true},
		{"./x86/artifact/catm", ToolCatm, X86, true},
		{"./x86/artifact/M0", ToolM0, X86, true},
		{"./x86/artifact/M1-0", ToolM1, X86, true},
		{"./bin/M1", ToolM1, "", true},
		{"../AMD64/bin/hex2", ToolHex2, AMD64, true},
		{"./x86/artifact/hex2-1", ToolHex2, X86, true},
		{"./artifact/blood-elf-0", ToolBloodElf, "", true},
		{"./x86/artifact/cc_x86", "", "", false},
		{"./x86/artifact/M2", "", "", false},
		{"./x86/bin/kaem", "", "", false},
	}
	for _, tc := range tests {
		tool, arch, ok := IdentifyTool(tc.program)
		if tool != tc.tool || arch != tc.arch || ok != tc.ok {
			t.Errorf("IdentifyTool(%q) = %q, %q, %v; want %q, %q, %v", tc.program, tool, arch, ok, tc.tool, tc.arch, tc.ok)
		}
	}
}

func TestDerive(t *testing.T) {
	files := map[string][]byte{
		"elf.hex2":  []byte(":ELF_base 7F454C46\n"),
		"prog.hex2": []byte(":_start E8 %_start\n"),
		"defs.M1":   []byte("DEFINE call E8\n"),
		"prog.M1":   []byte(":_start call %_start\n"),
		"p.hex0":    []byte("90 ; nop\n"),
		"p.hex1":    []byte(":a 90 %a\n"),
		"bad.M1":    []byte("00\n11"),
	}
	read := func(name string) ([]byte, error) {
		if d, ok := files[name]; ok {
			return d, nil
		}
		return nil, os.ErrNotExist
	}
	tests := []struct {
		tool string
		arch Arch
		args string
		want string // hex, or text prefixed with "text:"
	}{
		{ToolHex0, "", "p.hex0 out", "90"},
		{ToolHex1, X86, "p.hex1 out", "90 FBFFFFFF"},
		{ToolCatm, "", "out elf.hex2 prog.hex2", "text::ELF_base 7F454C46\n:_start E8 %_start\n"},
		{ToolHex2Seed, X86, "prog.hex2 out", "E8 FBFFFFFF"},
		{ToolM0, X86, "prog.M1 out", "text::_start\ncall\n%_start\n"},
		{ToolM1, "", "--architecture x86 --little-endian -f defs.M1 -f prog.M1 -o out", "text:\n:_start E8 %_start\n"},
		{ToolHex2, "", "--architecture amd64 --little-endian --base-address 0x600000 -f elf.hex2 -f prog.hex2 -o out", "7F454C46 E8 FBFFFFFF"},
		{ToolHex2, "", "--architecture x86 -f elf.hex2 -f prog.hex2 -o out", "7F454C46 E8 FFFFFFFB"},
	}
	for _, tc := range tests {
		t.Run(tc.tool+" "+tc.args, func(t *testing.T) {
			got, err := Derive(tc.tool, tc.arch, strings.Fields(tc.args), read)
			if err != nil {
				t.Fatal(err)
			}
			var want []byte
			if s, ok := strings.CutPrefix(tc.want, "text:"); ok {
				want = []byte(s)
			} else {
				want = unhex(t, tc.want)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}

	c, err := ParseCommand(ToolBloodElf, X86, strings.Fields("--64 --little-endian --entry _start -f a -f b -o f.M1"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Output != "f.M1" || len(c.Inputs) != 2 || !c.Bits64 || c.BigEndian || len(c.Entries) != 1 {
		t.Errorf("ParseCommand(blood-elf) = %+v", c)
	}
	c, err = ParseCommand(ToolHex2, "", strings.Fields("-A x86 --little-endian -B 0x08048000 -f a -o b"))
	if err != nil || c.BaseAddress != 0x8048000 || c.Arch != X86 {
		t.Errorf("ParseCommand(hex2) = %+v, %v", c, err)
	}

	for _, bad := range []struct{ tool, args string }{
		{ToolHex1, "only-one"},
		{ToolCatm, ""},
		{ToolM1, "--little-endian -f a -o b"},            // no architecture
		{ToolM1, "--architecture armv7l -f a -o b"},      // not implemented
		{ToolM1, "--architecture AMD64 -f a -o b"},       // upstream spells it amd64
		{ToolM1, "--architecture x86 -f a"},              // no output
		{ToolM1, "--architecture x86 -o b"},              // no input
		{ToolM1, "--architecture x86 --octal -f a -o b"}, // not implemented
		{ToolHex2, "--architecture x86 -f"},
		{ToolBloodElf, "-f a -o b"}, // endianness is required
		{"cc_x86", "a b"},
	} {
		if _, err := Derive(bad.tool, X86, strings.Fields(bad.args), read); err == nil {
			t.Errorf("Derive(%s %s) accepted", bad.tool, bad.args)
		}
	}
	if _, err := Derive(ToolHex1, X86, []string{"missing", "out"}, read); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Derive with a missing input: %v", err)
	}
	if _, err := Derive(ToolM0, X86, []string{"bad.M1", "out"}, read); err == nil || !strings.Contains(err.Error(), "bad.M1:2:") {
		t.Errorf("Derive error does not name the input file: %v", err)
	}
}
