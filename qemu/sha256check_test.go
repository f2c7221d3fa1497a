package qemu

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/bootchain/bootchain/hex0"
)

// sha256checkSHA256 pins the assembled sha256check: a change to
// sha256check.hex0 that changes a byte must change this line too, on purpose.
const sha256checkSHA256 = "f29f521e449491100f40d313a60e81ee481e85294b361e5eefb700d93302bacf"

const (
	sha256checkSource = "guest/x86/sha256check.hex0"
	sha256checkSize   = 1392
	sha256checkBase   = 0x08048000 // where its one segment is mapped
)

// sha256checkAssemble assembles sha256check.hex0, refusing any warning: the
// guest's hex0 seed would accept a malformed source silently.
func sha256checkAssemble(t testing.TB) []byte {
	t.Helper()
	src, err := os.ReadFile(sha256checkSource)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := hex0.Assemble(bytes.NewReader(src))
	if err != nil {
		t.Fatalf("%s: %v", sha256checkSource, err)
	}
	return bin
}

// sha256checkBinary writes the assembled sha256check to a temporary
// directory and returns its path, skipping when the host cannot run i386
// binaries.
func sha256checkBinary(t testing.TB) string {
	t.Helper()
	bin := sha256checkAssemble(t)
	p := filepath.Join(t.TempDir(), "sha256check")
	if err := os.WriteFile(p, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(p).Run(); err != nil {
		var ee *exec.ExitError
		if errors.Is(err, syscall.ENOEXEC) || !errors.As(err, &ee) {
			t.Skipf("this host cannot run i386 binaries: %v", err)
		}
	}
	return p
}

// sha256checkResult is what one run of sha256check did.
type sha256checkResult struct {
	status int
	stdout string
	out    []byte // OUT's content afterwards; nil if it does not exist
}

// sha256checkRun runs bin in dir with args and reads OUT (args[1], relative
// to dir) afterwards.
func sha256checkRun(t testing.TB, bin, dir string, args ...string) sha256checkResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var r sha256checkResult
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.status = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	if stderr.Len() > 0 {
		t.Errorf("sha256check %s wrote to stderr: %q", strings.Join(args, " "), stderr.String())
	}
	r.stdout = stdout.String()
	if len(args) > 1 {
		out := args[1]
		if !filepath.IsAbs(out) {
			out = filepath.Join(dir, out)
		}
		if b, err := os.ReadFile(out); err == nil {
			r.out = b
		}
	}
	return r
}

func sha256checkHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// sha256checkData is n pseudo-random bytes, the same on every run.
func sha256checkData(n int, seed byte) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed, 's', 'h', 'a'}).Read(b)
	return b
}

func sha256checkWrite(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSHA256CheckAssembles(t *testing.T) {
	bin := sha256checkAssemble(t)
	if got := sha256checkHex(bin); got != sha256checkSHA256 {
		t.Errorf("sha256check sha256 %s, pinned %s", got, sha256checkSHA256)
	}
	if len(bin) != sha256checkSize || !bytes.HasPrefix(bin, []byte("\x7fELF\x01\x01\x01")) {
		t.Fatalf("sha256check is %d bytes starting % x, want the %d-byte i386 ELF", len(bin), bin[:min(8, len(bin))], sha256checkSize)
	}
	le := binary.LittleEndian
	if e := le.Uint32(bin[0x18:]); e != sha256checkBase+0x54 {
		t.Errorf("e_entry = %#x, want %#x, right after the headers", e, sha256checkBase+0x54)
	}
	if n := le.Uint32(bin[0x44:]); int(n) != len(bin) {
		t.Errorf("p_filesz = %d, want the file's size %d", n, len(bin))
	}
}

// TestSHA256CheckBySeed assembles the source the way the guest does, with
// the x86 hex0 seed, run natively, and expects the pinned bytes.
func TestSHA256CheckBySeed(t *testing.T) {
	seed, err := hex0.Build("x86", hex0.HexSeed)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, hex0.HexSeed)
	if err := os.WriteFile(p, seed.Bytes, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := filepath.Abs(sha256checkSource)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "sha256check")
	if err := exec.Command(p, src, out).Run(); err != nil {
		var ee *exec.ExitError
		if errors.Is(err, syscall.ENOEXEC) || !errors.As(err, &ee) {
			t.Skipf("this host cannot run i386 binaries: %v", err)
		}
		t.Fatalf("hex0 seed %s: %v", sha256checkSource, err)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := sha256checkHex(bin); got != sha256checkSHA256 {
		t.Errorf("the hex0 seed assembles sha256check to sha256 %s, pinned %s", got, sha256checkSHA256)
	}
}

// TestSHA256CheckComments checks what an auditor relies on when reading the
// source: every line with bytes gives its file offset, every label line its
// offset and address, and every jump or call the offset it really goes to.
func TestSHA256CheckComments(t *testing.T) {
	src, err := os.ReadFile(sha256checkSource)
	if err != nil {
		t.Fatal(err)
	}
	checkHex0Comments(t, src, sha256checkSize, 40, []string{"end"})
}

// sha256checkSizes are the lengths where SHA-256's padding and the
// program's 64 KiB reads change behaviour, and one of several MiB.
var sha256checkSizes = []int{0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 4095, 4096, 4097, 65535, 65536, 65537, 65536 + 56, 3 << 20}

func TestSHA256CheckSizes(t *testing.T) {
	bin := sha256checkBinary(t)
	dir := t.TempDir()
	for _, n := range sha256checkSizes {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			data := sha256checkData(n, byte(n))
			name := fmt.Sprintf("f%d", n)
			sha256checkWrite(t, dir, map[string][]byte{name: data})
			line := sha256checkHex(data) + "  " + name + "\n"
			sha256checkWrite(t, dir, map[string][]byte{"list": []byte(line)})
			r := sha256checkRun(t, bin, dir, "list", "out")
			if r.status != 0 || r.stdout != "OK "+name+"\n" {
				t.Errorf("status %d, stdout %q; want 0, %q", r.status, r.stdout, "OK "+name+"\n")
			}
			if string(r.out) != line {
				t.Errorf("OUT = %q, want %q", r.out, line)
			}
		})
	}
}

// TestSHA256CheckMany checks a list of many files, with a repeated file, an
// absolute path and a mismatch in the middle: every line is checked in
// order, OUT lists the actual digests, and the status is 1.
func TestSHA256CheckMany(t *testing.T) {
	bin := sha256checkBinary(t)
	dir := t.TempDir()
	var list, out, stdout strings.Builder
	add := func(path string, data []byte, wrong bool) {
		sum := sha256checkHex(data)
		expected := sum
		if wrong {
			expected = sha256checkHex(append(data, 0))
			fmt.Fprintf(&stdout, "FAILED %s sha256 %s expected %s\n", path, sum, expected)
		} else {
			fmt.Fprintf(&stdout, "OK %s\n", path)
		}
		fmt.Fprintf(&list, "%s  %s\n", expected, path)
		fmt.Fprintf(&out, "%s  %s\n", sum, path)
	}
	for i, n := range sha256checkSizes {
		data := sha256checkData(n, byte(i)+100)
		name := fmt.Sprintf("file-%02d.bin", i)
		sha256checkWrite(t, dir, map[string][]byte{name: data})
		add(name, data, false)
		if i == len(sha256checkSizes)/2 {
			add(name, data, true)
			add(filepath.Join(dir, name), data, false)
		}
	}
	add("file-00.bin", nil, false)
	utf8 := "fichier-été.bin" // bytes above 0x7F are part of a path
	sha256checkWrite(t, dir, map[string][]byte{utf8: []byte("été\n")})
	add(utf8, []byte("été\n"), false)
	sha256checkWrite(t, dir, map[string][]byte{"list": []byte(list.String()), "out": bytes.Repeat([]byte("old "), 10000)})
	r := sha256checkRun(t, bin, dir, "list", "out")
	if r.status != 1 {
		t.Errorf("status %d, want 1 (one mismatch)", r.status)
	}
	if r.stdout != stdout.String() {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, stdout.String())
	}
	if string(r.out) != out.String() {
		t.Errorf("OUT:\n%s\nwant:\n%s", r.out, out.String())
	}
}

// TestSHA256CheckChainDigest checks the use the guest makes of OUT: a
// second run on a one-line list naming OUT digests every output at once.
func TestSHA256CheckChainDigest(t *testing.T) {
	bin := sha256checkBinary(t)
	dir := t.TempDir()
	files := map[string][]byte{"a": []byte("a\n"), "b": sha256checkData(100000, 1)}
	sha256checkWrite(t, dir, files)
	sha256checkWrite(t, dir, map[string][]byte{"list": []byte(sha256checkHex(files["a"]) + "  a\n" + sha256checkHex(files["b"]) + "  b\n")})
	r := sha256checkRun(t, bin, dir, "list", "out")
	if r.status != 0 {
		t.Fatalf("first run: status %d, stdout %q", r.status, r.stdout)
	}
	digest := sha256checkHex(r.out)
	sha256checkWrite(t, dir, map[string][]byte{"list2": []byte(digest + "  out\n")})
	r = sha256checkRun(t, bin, dir, "list2", "out2")
	if r.status != 0 || r.stdout != "OK out\n" || string(r.out) != digest+"  out\n" {
		t.Errorf("digest run: status %d, stdout %q, OUT %q; want 0, \"OK out\\n\", %q", r.status, r.stdout, r.out, digest+"  out\n")
	}
	if st, err := os.Stat(filepath.Join(dir, "out2")); err != nil || st.Mode().Perm()&^0o022 != 0o644&^0o022 {
		t.Errorf("created OUT: %v, %v; want mode 0644 (less umask)", st.Mode(), err)
	}
}

// TestSHA256CheckGolden checks the example messages NIST publishes for
// SHA-256 ("abc", the two-block message, a million 'a's) and the empty
// message, plus one wrong digest, against testdata/sha256check/fips.list and
// the outputs beside it.
func TestSHA256CheckGolden(t *testing.T) {
	bin := sha256checkBinary(t)
	dir := t.TempDir()
	sha256checkWrite(t, dir, map[string][]byte{
		"empty":      nil,
		"abc":        []byte("abc"),
		"two-blocks": []byte("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
		"million-a":  bytes.Repeat([]byte("a"), 1000000),
	})
	golden := filepath.Join("testdata", "sha256check")
	list, err := filepath.Abs(filepath.Join(golden, "fips.list"))
	if err != nil {
		t.Fatal(err)
	}
	r := sha256checkRun(t, bin, dir, list, "out")
	if r.status != 1 {
		t.Errorf("status %d, want 1: fips.list has one wrong digest", r.status)
	}
	for _, line := range strings.SplitAfter(string(r.out), "\n") {
		if sum, path, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "  "); ok {
			data, _ := os.ReadFile(filepath.Join(dir, path))
			if want := sha256checkHex(data); sum != want {
				t.Errorf("OUT says %s for %s, crypto/sha256 %s", sum, path, want)
			}
		}
	}
	for _, g := range []struct {
		name string
		got  []byte
	}{{"fips.stdout", []byte(r.stdout)}, {"fips.out", r.out}} {
		p := filepath.Join(golden, g.name)
		if *update {
			if err := os.WriteFile(p, g.got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (go test -update creates it)", err)
		}
		if !bytes.Equal(g.got, want) {
			t.Errorf("%s differs (go test -update rewrites it); got:\n%s", p, g.got)
		}
	}
}

func TestSHA256CheckErrors(t *testing.T) {
	bin := sha256checkBinary(t)
	dir := t.TempDir()
	files := map[string][]byte{"a": []byte("a"), "b": []byte("b")}
	sha256checkWrite(t, dir, files)
	a, b := sha256checkHex(files["a"])+"  a\n", sha256checkHex(files["b"])+"  b\n"
	h := sha256checkHex(files["a"])
	roStdout, err := os.Open(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer roStdout.Close()
	const old = "old OUT content\n"
	tests := []struct {
		name   string
		list   string   // LIST's content, written to "list"
		args   []string // default: list out
		stdout *os.File // default: a buffer
		status int
		out    string // OUT afterwards ("old OUT content\n" if untouched)
		output string // standard output, when stdout is not given
	}{
		{name: "all good", list: a + b, status: 0, out: a + b, output: "OK a\nOK b\n"},
		{name: "empty list", list: "", status: 2, out: old},
		{name: "no final line feed", list: a + strings.TrimSuffix(b, "\n"), status: 2, out: old},
		{name: "blank line", list: a + "\n" + b, status: 2, out: old},
		{name: "trailing blank line", list: a + b + "\n", status: 2, out: old},
		{name: "CRLF", list: strings.ReplaceAll(a, "\n", "\r\n"), status: 2, out: old},
		{name: "upper case digest", list: strings.ToUpper(h) + "  a\n", status: 2, out: old},
		{name: "63 digits", list: h[1:] + "  a\n", status: 2, out: old},
		{name: "65 digits", list: h + "0  a\n", status: 2, out: old},
		{name: "one space", list: h + " a\n", status: 2, out: old},
		{name: "three spaces", list: h + "   a\n", status: 2, out: old},
		{name: "binary mode star", list: h + " *a\n", status: 2, out: old},
		{name: "tab", list: h + "\ta\n", status: 2, out: old},
		{name: "no path", list: h + "  \n", status: 2, out: old},
		{name: "space in path", list: h + "  a b\n", status: 2, out: old},
		{name: "trailing space", list: h + "  a \n", status: 2, out: old},
		{name: "NUL in path", list: h + "  a\x00b\n", status: 2, out: old},
		{name: "control byte in path", list: h + "  a\x01b\n", status: 2, out: old},
		{name: "escaped line", list: "\\" + a, status: 2, out: old},
		{name: "malformed last line", list: a + b + "x\n", status: 2, out: old},
		{name: "non-hex digit", list: "g" + h[1:] + "  a\n", status: 2, out: old},
		{name: "no arguments", args: []string{}, status: 2, out: old},
		{name: "one argument", list: a, args: []string{"list"}, status: 2, out: old},
		{name: "three arguments", list: a, args: []string{"list", "out", "x"}, status: 2, out: old},
		{name: "missing list", args: []string{"missing", "out"}, status: 2, out: old},
		{name: "list is a directory", args: []string{".", "out"}, status: 2, out: old},
		{name: "missing file", list: a + h + "  missing\n" + b, status: 3, out: a, output: "OK a\n"},
		{name: "directory listed", list: h + "  .\n" + a, status: 3, out: ""},
		{name: "unwritable OUT", list: a, args: []string{"list", "/dev/full"}, status: 4, out: old},
		{name: "OUT in a missing directory", list: a, args: []string{"list", "no/out"}, status: 4, out: old},
		{name: "read-only stdout", list: a, stdout: roStdout, status: 4, out: a},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sha256checkWrite(t, dir, map[string][]byte{"list": []byte(tt.list), "out": []byte(old)})
			args := tt.args
			if args == nil {
				args = []string{"list", "out"}
			}
			cmd := exec.Command(bin, args...)
			cmd.Dir = dir
			var stdout bytes.Buffer
			cmd.Stdout = &stdout
			if tt.stdout != nil {
				cmd.Stdout = tt.stdout
			}
			err := cmd.Run()
			status := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				status = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if status != tt.status {
				t.Errorf("status %d, want %d", status, tt.status)
			}
			if got, _ := os.ReadFile(filepath.Join(dir, "out")); string(got) != tt.out {
				t.Errorf("OUT = %q, want %q", got, tt.out)
			}
			if tt.stdout == nil && stdout.String() != tt.output {
				t.Errorf("stdout = %q, want %q", stdout.String(), tt.output)
			}
		})
	}
}

// TestSHA256CheckListLimit checks the 4 MiB limit on LIST at its edge:
// 4 MiB - 128 bytes of good lines pass, 4 MiB are refused.
func TestSHA256CheckListLimit(t *testing.T) {
	bin := sha256checkBinary(t)
	dir := t.TempDir()
	name := strings.Repeat("n", 61) // 64 + 2 + 61 + 1 = 128 bytes a line
	sha256checkWrite(t, dir, map[string][]byte{name: nil})
	line := sha256checkHex(nil) + "  " + name + "\n"
	if len(line) != 128 {
		t.Fatalf("line is %d bytes", len(line))
	}
	for _, tt := range []struct {
		lines, status int
	}{{32767, 0}, {32768, 2}} {
		list := strings.Repeat(line, tt.lines)
		sha256checkWrite(t, dir, map[string][]byte{"list": []byte(list)})
		os.Remove(filepath.Join(dir, "out"))
		r := sha256checkRun(t, bin, dir, "list", "out")
		if r.status != tt.status {
			t.Errorf("%d-byte LIST: status %d, want %d", len(list), r.status, tt.status)
		}
		if want := strings.Repeat("OK "+name+"\n", tt.lines); tt.status == 0 && (string(r.out) != list || r.stdout != want) {
			t.Errorf("%d-byte LIST: OUT is %d bytes, stdout %d; want %d and %d", len(list), len(r.out), len(r.stdout), len(list), len(want))
		}
	}
}

// FuzzSHA256Check hashes arbitrary file contents and compares with
// crypto/sha256.
func FuzzSHA256Check(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("abc"))
	f.Add(allBytes())
	bin := sha256checkBinary(f)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		sha256checkWrite(t, dir, map[string][]byte{"f": data})
		line := sha256checkHex(data) + "  f\n"
		sha256checkWrite(t, dir, map[string][]byte{"list": []byte(line)})
		r := sha256checkRun(t, bin, dir, "list", "out")
		if r.status != 0 || r.stdout != "OK f\n" || string(r.out) != line {
			t.Errorf("%d bytes: status %d, stdout %q, OUT %q; want 0, \"OK f\\n\", %q", len(data), r.status, r.stdout, r.out, line)
		}
	})
}

// sha256checkModel is the Go reading of LIST's grammar: the lines, or false
// if LIST is malformed.
func sha256checkModel(list []byte) (sums, paths []string, ok bool) {
	if len(list) == 0 {
		return nil, nil, false
	}
	for len(list) > 0 {
		line, rest, found := bytes.Cut(list, []byte("\n"))
		if !found || len(line) < 67 || string(line[64:66]) != "  " {
			return nil, nil, false
		}
		for _, c := range line[:64] {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return nil, nil, false
			}
		}
		for _, c := range line[66:] {
			if c <= ' ' {
				return nil, nil, false
			}
		}
		sums, paths = append(sums, string(line[:64])), append(paths, string(line[66:]))
		list = rest
	}
	return sums, paths, true
}

// FuzzSHA256CheckList runs arbitrary LISTs against the Go model: malformed
// ones exit 2 and leave OUT alone; good ones naming files in the working
// directory (which holds only a, b and c) give exactly the model's output.
func FuzzSHA256CheckList(f *testing.F) {
	files := map[string][]byte{"a": []byte("a"), "b": nil, "c": sha256checkData(70000, 3)}
	a, b, c := sha256checkHex(files["a"]), sha256checkHex(files["b"]), sha256checkHex(files["c"])
	f.Add([]byte(a + "  a\n"))
	f.Add([]byte(a + "  a\n" + b + "  b\n" + c + "  c\n"))
	f.Add([]byte(b + "  a\n" + c + "  c\n"))
	f.Add([]byte(a + "  a\n" + c + "  missing\n" + b + "  b\n"))
	f.Add([]byte(a + "  a"))
	f.Add([]byte(a + " a\n"))
	bin := sha256checkBinary(f)
	work, other := f.TempDir(), f.TempDir()
	sha256checkWrite(f, work, files)
	list, out := filepath.Join(other, "list"), filepath.Join(other, "out")
	f.Fuzz(func(t *testing.T, data []byte) {
		sums, paths, ok := sha256checkModel(data)
		for _, p := range paths {
			if strings.Contains(p, "/") {
				return // could name anything on the host, /dev/zero included
			}
		}
		sha256checkWrite(t, other, map[string][]byte{"list": data, "out": []byte("old")})
		r := sha256checkRun(t, bin, work, list, out)
		if !ok {
			if r.status != 2 || r.stdout != "" || string(r.out) != "old" {
				t.Errorf("malformed LIST %q: status %d, stdout %q, OUT %q; want 2, nothing written", data, r.status, r.stdout, r.out)
			}
			return
		}
		var wantOut, wantStdout strings.Builder
		status := 0
		for i, p := range paths {
			d, exists := files[p]
			if !exists {
				status = 3
				break
			}
			sum := sha256checkHex(d)
			fmt.Fprintf(&wantOut, "%s  %s\n", sum, p)
			if sum == sums[i] {
				fmt.Fprintf(&wantStdout, "OK %s\n", p)
			} else {
				fmt.Fprintf(&wantStdout, "FAILED %s sha256 %s expected %s\n", p, sum, sums[i])
				status = 1
			}
		}
		if r.status != status || r.stdout != wantStdout.String() || string(r.out) != wantOut.String() {
			t.Errorf("LIST %q: status %d, stdout %q, OUT %q; want %d, %q, %q", data, r.status, r.stdout, r.out, status, wantStdout.String(), wantOut.String())
		}
	})
}

// BenchmarkSHA256Check reports sha256check's throughput on a 64 MiB file
// (go test -run '^$' -bench SHA256Check ./qemu/).
func BenchmarkSHA256Check(b *testing.B) {
	bin := sha256checkBinary(b)
	dir := b.TempDir()
	data := sha256checkData(64<<20, 7)
	sha256checkWrite(b, dir, map[string][]byte{"big": data, "list": []byte(sha256checkHex(data) + "  big\n")})
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if r := sha256checkRun(b, bin, dir, "list", "out"); r.status != 0 {
			b.Fatalf("status %d: %s", r.status, r.stdout)
		}
	}
}
