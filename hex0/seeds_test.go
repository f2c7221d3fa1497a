package hex0

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The seed harness: every test below runs for every architecture in Arches.
// The seeds are built with the Go assembler (Build) and then, where the host
// can run them, run natively and compared with it.

// hexSeedLimit is the largest size, in bytes, a hex0 seed may have.
var hexSeedLimit = map[string]int{"x86": 187, "amd64": 229} // x86: open, not creat, so builder-hex0 runs it

// elfMachine is what each architecture's seeds must declare in their ELF
// header: EI_CLASS and e_machine.
var elfMachine = map[string]struct {
	class   byte
	machine uint16
}{
	"x86":   {1, 3},  // ELFCLASS32, EM_386
	"amd64": {2, 62}, // ELFCLASS64, EM_X86_64
}

// upstreamLayout names each architecture's files in a stage0-posix tree.
var upstreamLayout = map[string]struct {
	dir     string // architecture directory, also under bootstrap-seeds/POSIX/
	hex0    string // the hex0 source its seed kaem script assembles first
	answers string // the pinned SHA-256 of the final binaries
}{
	"x86":   {"x86", "hex0_x86.hex0", "x86.answers"},
	"amd64": {"AMD64", "hex0_AMD64.hex0", "amd64.answers"},
}

// kaemStatus is, for the architectures whose kaem seed documents them, the
// exit status kaem gives for each kind of failure in TestKaemSeedFails.
var kaemStatus = map[string]map[string]int{
	"x86": {"exit 3": 3, "killed": 128 + 9, "missing program": 127, "missing script": 1},
}

func mustBuild(t testing.TB, arch, name string) Seed {
	t.Helper()
	s, err := Build(arch, name)
	if err != nil {
		t.Fatalf("Build(%q, %q): %v", arch, name, err)
	}
	return s
}

func TestSeedsBuild(t *testing.T) {
	for _, arch := range Arches {
		t.Run(arch, func(t *testing.T) {
			pins, err := Pins(arch)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for n := range pins {
				names = append(names, n)
			}
			slices.Sort(names)
			if want := []string{HexSeed, KaemSeed}; !slices.Equal(names, want) {
				t.Errorf("hex0/%s/SHA256SUMS pins %v, want exactly %v", arch, names, want)
			}
			for _, name := range Names {
				s := mustBuild(t, arch, name)
				src, err := Source(arch, name)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := Assemble(bytes.NewReader(src)); err != nil {
					t.Errorf("%s: %v", s.Source, err)
				}
				sum := sha256.Sum256(s.Bytes)
				if got := hex.EncodeToString(sum[:]); got != pins[name] || got != s.SHA256 {
					t.Errorf("%s: sha256 %s, Seed.SHA256 %s, pin %s", s.Source, got, s.SHA256, pins[name])
				}
				checkELF(t, arch, s)
			}
		})
	}
}

// checkELF checks the fields the Linux loader reads in a seed's ELF header.
func checkELF(t *testing.T, arch string, s Seed) {
	t.Helper()
	b := s.Bytes
	if len(b) < 0x34 || !bytes.Equal(b[:4], []byte("\x7fELF")) {
		t.Errorf("%s: %d bytes, not an ELF file", s.Source, len(b))
		return
	}
	want := elfMachine[arch]
	if b[4] != want.class || b[5] != 1 {
		t.Errorf("%s: EI_CLASS %d EI_DATA %d, want %d and 1 (little-endian)", s.Source, b[4], b[5], want.class)
	}
	if typ, mach := binary.LittleEndian.Uint16(b[16:]), binary.LittleEndian.Uint16(b[18:]); typ != 2 || mach != want.machine {
		t.Errorf("%s: e_type %d e_machine %d, want 2 (ET_EXEC) and %d", s.Source, typ, mach, want.machine)
	}
}

// TestSeedPinCatchesChange changes a seed's source the ways an editor could
// and checks that the pin refuses every change to the bytes and accepts
// changes to the comments only.
func TestSeedPinCatchesChange(t *testing.T) {
	for _, arch := range Arches {
		for _, name := range Names {
			t.Run(arch+"/"+name, func(t *testing.T) {
				src, err := Source(arch, name)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := buildSource(arch, name, src); err != nil {
					t.Fatalf("unchanged source: %v", err)
				}
				i := firstCodeDigit(src)
				if i < 0 {
					t.Fatalf("hex0/%s/%s: no hex digit outside comments", arch, sourceOf[name])
				}
				flipped := bytes.Clone(src)
				flipped[i] = "1032547698badcfe"[hexVal(src[i])] // another digit
				for _, m := range []struct {
					what string
					src  []byte
					ok   bool
				}{
					{"one digit changed", flipped, false},
					{"a byte appended", append(bytes.Clone(src), "90\n"...), false},
					{"a byte removed", slices.Delete(bytes.Clone(src), i, i+2), false},
					{"a comment appended", append(bytes.Clone(src), "# reviewed\n"...), true},
					{"a comment changed", bytes.Replace(src, []byte("#"), []byte("# edited:"), 1), true},
				} {
					_, err := buildSource(arch, name, m.src)
					if m.ok && err != nil {
						t.Errorf("%s: %v, want the pin to hold", m.what, err)
					}
					if !m.ok && err == nil {
						t.Errorf("%s: the pin still matches, want a mismatch", m.what)
					}
				}
			})
		}
	}
}

// firstCodeDigit returns the index of the first hex digit outside comments.
func firstCodeDigit(src []byte) int {
	comment := false
	for i, c := range src {
		switch {
		case c == '\n':
			comment = false
		case comment:
		case c == '#' || c == ';':
			comment = true
		default:
			if _, ok := nibble(c); ok {
				return i
			}
		}
	}
	return -1
}

func hexVal(c byte) byte { v, _ := nibble(c); return v }

func TestSeedSizes(t *testing.T) {
	for _, arch := range Arches {
		t.Run(arch, func(t *testing.T) {
			s := mustBuild(t, arch, HexSeed)
			t.Logf("%s hex0-seed: %d bytes (limit %d); kaem-optional-seed: %d bytes", arch, len(s.Bytes), hexSeedLimit[arch], len(mustBuild(t, arch, KaemSeed).Bytes))
			if len(s.Bytes) > hexSeedLimit[arch] {
				t.Errorf("%s: %d bytes, limit %d", s.Source, len(s.Bytes), hexSeedLimit[arch])
			}
			if len(s.Bytes) == 0 {
				t.Errorf("%s: empty", s.Source)
			}
		})
	}
}

// TestSeedSourcesASCII keeps the sources plain ASCII text (printable bytes,
// tab, line feed), so that any editor, pager or sed shows them the same way.
func TestSeedSourcesASCII(t *testing.T) {
	for _, arch := range Arches {
		for _, name := range Names {
			src, err := Source(arch, name)
			if err != nil {
				t.Fatal(err)
			}
			line := 1
			for _, c := range src {
				if c == '\n' {
					line++
					continue
				}
				if c != '\t' && (c < 0x20 || c > 0x7e) {
					t.Errorf("hex0/%s/%s line %d: byte 0x%02X, want printable ASCII", arch, sourceOf[name], line, c)
					break
				}
			}
			if len(src) > 0 && src[len(src)-1] != '\n' {
				t.Errorf("hex0/%s/%s: does not end with a line feed", arch, sourceOf[name])
			}
		}
	}
}

// The reference programs below are minimal, conventional ELF executables
// (no overlapping headers) that only exit(0). If one runs and a seed does
// not, the seed is broken; if neither runs, this host cannot run the
// architecture and the native tests skip.
var exitZeroELF = map[string]string{
	"x86": "7F454C46 01010100 0000000000000000" + // e_ident: ELFCLASS32, LSB, version 1
		"0200 0300 01000000 54800408 34000000" + // ET_EXEC, EM_386, version, e_entry 0x08048054, e_phoff 0x34
		"00000000 00000000 3400 2000 0100 0000 0000 0000" + // no sections, ehsize 52, phentsize 32, phnum 1
		"01000000 00000000 00800408 00800408" + // PT_LOAD from offset 0 at 0x08048000
		"60000000 60000000 05000000 00100000" + // filesz = memsz = 96, R+X, align 4 KiB
		"31DB 31C0 40 CD80 90 90 90", // xor ebx,ebx; xor eax,eax; inc eax; int 0x80: exit(0); padding
	"amd64": "7F454C46 02010100 0000000000000000" + // e_ident: ELFCLASS64, LSB, version 1
		"0200 3E00 01000000 7800400000000000" + // ET_EXEC, EM_X86_64, version, e_entry 0x400078
		"4000000000000000 0000000000000000 00000000" + // e_phoff 64, no sections, flags
		"4000 3800 0100 0000 0000 0000" + // ehsize 64, phentsize 56, phnum 1
		"01000000 05000000 0000000000000000" + // PT_LOAD, R+X, offset 0
		"0000400000000000 0000400000000000" + // vaddr = paddr = 0x400000
		"8400000000000000 8400000000000000 0010000000000000" + // filesz = memsz = 132, align 4 KiB
		"31FF B83C000000 0F05", // xor edi,edi; mov eax,60; syscall: exit(0)
}

var native sync.Map // arch -> error (nil if the host runs it)

// requireNative skips the test unless this host can run arch's programs.
func requireNative(t testing.TB, arch string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("seeds are Linux programs; host is %s", runtime.GOOS)
	}
	v, ok := native.Load(arch)
	if !ok {
		v = probeNative(arch)
		native.Store(arch, v)
	}
	if err, _ := v.(error); err != nil {
		t.Skipf("host cannot run %s programs: %v", arch, err)
	}
}

func probeNative(arch string) any {
	if arch == "amd64" && runtime.GOARCH != "amd64" || arch == "x86" && runtime.GOARCH != "amd64" && runtime.GOARCH != "386" {
		return fmt.Errorf("host is %s", runtime.GOARCH)
	}
	b, err := hex.DecodeString(strings.ReplaceAll(exitZeroELF[arch], " ", ""))
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bootchain-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "exit0")
	if err := os.WriteFile(p, b, 0o755); err != nil {
		return err
	}
	if err := exec.Command(p).Run(); err != nil {
		return fmt.Errorf("a minimal %s ELF program fails: %w", arch, err)
	}
	return nil
}

// writeSeeds writes arch's Go-built seeds, mode 0755, into dir.
func writeSeeds(t testing.TB, arch, dir string) (hexSeed, kaemSeed string) {
	t.Helper()
	for _, name := range Names {
		s := mustBuild(t, arch, name)
		if err := os.WriteFile(filepath.Join(dir, name), s.Bytes, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, HexSeed), filepath.Join(dir, KaemSeed)
}

type result struct {
	stdout, stderr string
	status         int // exit status, or -1 if killed by a signal
}

// run runs a program in dir with env (nil: the test's environment) and
// reports its output and exit status; it fails the test only if the program
// cannot be started at all or does not finish within a minute.
func run(t testing.TB, dir string, env []string, prog string, args ...string) result {
	t.Helper()
	return runFor(t, time.Minute, dir, env, prog, args...)
}

// runFor is run with a time limit of d, which only guards against a hang.
func runFor(t testing.TB, d time.Duration, dir string, env []string, prog string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout.String(), stderr.String(), 0}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %q: did not finish: %v", prog, args, ctx.Err())
	case errors.As(err, &ee):
		r.status = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %q: %v", prog, args, err)
	}
	return r
}

// TestSeedSelfHosting runs each hex0 seed on the seeds' own sources: it must
// reproduce itself and the kaem seed byte for byte.
func TestSeedSelfHosting(t *testing.T) {
	for _, arch := range Arches {
		t.Run(arch, func(t *testing.T) {
			requireNative(t, arch)
			dir := t.TempDir()
			hexSeed, _ := writeSeeds(t, arch, dir)
			for _, name := range Names {
				src, err := Source(arch, name)
				if err != nil {
					t.Fatal(err)
				}
				in, out := filepath.Join(dir, sourceOf[name]), filepath.Join(dir, name+".out")
				if err := os.WriteFile(in, src, 0o644); err != nil {
					t.Fatal(err)
				}
				if r := run(t, dir, nil, hexSeed, in, out); r.status != 0 {
					t.Fatalf("%s %s %s: exit status %d", HexSeed, in, out, r.status)
				}
				got, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				if want := mustBuild(t, arch, name).Bytes; !bytes.Equal(got, want) {
					t.Errorf("%s/%s assembled by %s/%s: %d bytes, differs from the Go build (%d bytes)", arch, sourceOf[name], arch, HexSeed, len(got), len(want))
				}
				fi, err := os.Stat(out)
				if err != nil {
					t.Fatal(err)
				}
				if m := fi.Mode().Perm(); m&0o700 != 0o700 || m&0o022 != 0 {
					t.Errorf("%s: mode %v, want 0700 or 0755", out, m)
				}
			}
		})
	}
}

// seedEdgeCases are inputs on which a seed could plausibly differ from the
// Go assembler.
var seedEdgeCases = []string{
	"", "7", "7F", "7F4", "7f 45\n4c46", "0 1", "0\n1", "0#c\n1", "0;c\n1", "A;\nB",
	"#only a comment", ";x\n", "41 # 42\n43 ; 44\n45", "#\r\n41\r\n", "4\r1",
	"\x00\x41\x00\x42\x00", "4\x001", "\xff\x80A\xc1B", "\xc1\xc6\xe1\xe6",
	"0x41", "gG41zZ", "@AFGafg`", "/09:", "41\n#\n\n\n42", "###\n;;;\n4 2",
	"\x0a\x1a\x2a\x3a\x4a\x5a\x6a\x7a\x8a\x9a\xaa\xba\xca\xda\xea\xfa",
	strings.Repeat("ab", 5000), strings.Repeat("#", 3000) + "\n99",
}

// randomHex0 returns a pseudo-random input built from the bytes a seed
// treats specially, plus arbitrary ones.
func randomHex0(r *rand.Rand) []byte {
	const digits = "0123456789abcdefABCDEF"
	b := make([]byte, r.IntN(200))
	for i := range b {
		switch k := r.IntN(100); {
		case k < 45:
			b[i] = digits[r.IntN(len(digits))]
		case k < 55:
			b[i] = " \t\n\r"[r.IntN(4)]
		case k < 62:
			b[i] = "#;"[r.IntN(2)]
		case k < 66:
			b[i] = 0
		case k < 76:
			b[i] = byte(0x80 + r.IntN(0x80))
		default:
			b[i] = byte(r.IntN(256))
		}
	}
	return b
}

// TestSeedDifferential runs each native hex0 seed and the Go assembler on the
// same inputs (the edge cases and a few hundred pseudo-random ones, from a
// fixed seed so failures reproduce) and requires identical output.
func TestSeedDifferential(t *testing.T) {
	for _, arch := range Arches {
		t.Run(arch, func(t *testing.T) {
			requireNative(t, arch)
			dir := t.TempDir()
			hexSeed, _ := writeSeeds(t, arch, dir)
			r := rand.New(rand.NewPCG(0xb007c4a1, 0x4e30))
			var inputs [][]byte
			for _, s := range seedEdgeCases {
				inputs = append(inputs, []byte(s))
			}
			for range 300 {
				inputs = append(inputs, randomHex0(r))
			}
			for i, in := range inputs {
				if !sameAsAssemble(t, dir, hexSeed, in) {
					t.Fatalf("input %d of %d differs (see above)", i, len(inputs))
				}
			}
		})
	}
}

// sameAsAssemble runs the seed on src and compares with AssembleLenient.
func sameAsAssemble(t testing.TB, dir, hexSeed string, src []byte) bool {
	t.Helper()
	in, out := filepath.Join(dir, "in.hex0"), filepath.Join(dir, "out")
	if err := os.WriteFile(in, src, 0o644); err != nil {
		t.Fatal(err)
	}
	want, err := AssembleLenient(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if r := run(t, dir, nil, hexSeed, in, out); r.status != 0 {
		t.Errorf("seed on %q: exit status %d, want 0", src, r.status)
		return false
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("seed on %q: % x; Assemble: % x", src, got, want)
		return false
	}
	return true
}

func FuzzSeedX86(f *testing.F)   { fuzzSeed(f, "x86") }
func FuzzSeedAMD64(f *testing.F) { fuzzSeed(f, "amd64") }

// fuzzSeed is the differential fuzz target: the real seed binary and
// Assemble must write the same bytes for any input. The corpus is in
// testdata/fuzz/FuzzSeed<ARCH>/.
func fuzzSeed(f *testing.F, arch string) {
	for _, s := range seedEdgeCases[:10] {
		f.Add([]byte(s))
	}
	requireNative(f, arch)
	hexSeed, _ := writeSeeds(f, arch, f.TempDir())
	f.Fuzz(func(t *testing.T, src []byte) {
		sameAsAssemble(t, t.TempDir(), hexSeed, src)
	})
}

// unixRoute is how BOOTSTRAP.md tells an auditor to rebuild and check an
// architecture's seeds with standard Unix tools only, from the repository
// root: strip the comments with sed, turn the hex into bytes with xxd, and
// compare with the pins.
func unixRoute(arch string) []string {
	return []string{
		"sed 's/[#;].*//' hex0/" + arch + "/hex0.hex0 | xxd -r -p > hex0-seed",
		"sed 's/[#;].*//' hex0/" + arch + "/kaem-minimal.hex0 | xxd -r -p > kaem-optional-seed",
		"sha256sum -c hex0/" + arch + "/SHA256SUMS",
	}
}

// TestSeedUnixRoute runs the unixRoute commands, exactly as documented, in a
// copy of the repository's hex0/ARCH directory.
func TestSeedUnixRoute(t *testing.T) {
	for _, tool := range []string{"sh", "sed", "xxd", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found (%v); the documented sed/xxd route cannot be checked here", tool, err)
		}
	}
	for _, arch := range Arches {
		t.Run(arch, func(t *testing.T) {
			dir := t.TempDir()
			sub, err := fs.Sub(sources, arch)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.CopyFS(filepath.Join(dir, "hex0", arch), sub); err != nil {
				t.Fatal(err)
			}
			for _, c := range unixRoute(arch) {
				cmd := exec.CommandContext(t.Context(), "sh", "-c", c)
				cmd.Dir = dir
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("sh -c %q: %v\n%s", c, err, out)
				}
			}
			for _, name := range Names {
				got, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				if want := mustBuild(t, arch, name).Bytes; !bytes.Equal(got, want) {
					t.Errorf("%s/%s by sed and xxd: %d bytes, differs from the Go build (%d bytes)", arch, name, len(got), len(want))
				}
			}
		})
	}
}

// kaemHelpers are the files the kaem tests' scripts use.
var kaemHelpers = map[string]string{
	"args.sh":  "printf '[%s]' \"$@\" >> log\necho >> log\n",
	"env.sh":   "printf '%s\\n' \"$BOOTCHAIN_KAEM_TEST\" >> log\n",
	"count.sh": "for a; do last=$a; done\nprintf '%s %s %s\\n' \"$#\" \"$1\" \"$last\" >> log\n",
	"fail3.sh": "#!/bin/sh\nexit 3\n",
	"kill.sh":  "kill -9 $$\n",
	"one.hex0": "48 65 6C 6C 6F  # Hello\n",
	"two.hex0": "77 6F 72 6C 64  ; world\n",
}

// kaemDir makes a directory with arch's seeds, the helper files and, for
// each script name, its text.
func kaemDir(t *testing.T, arch string, scripts map[string]string) (dir, kaem string) {
	t.Helper()
	dir = t.TempDir()
	_, kaem = writeSeeds(t, arch, dir)
	for name, text := range kaemHelpers {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, text := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, kaem
}

// TestKaemSeed runs each kaem seed, with no argument, on a kaem.ARCH script
// in its working directory that has every kind of line stage0-posix's
// scripts have, and checks the commands' order and effects, the " +> "
// echo, the environment passed through, and a command longer than 4 KiB
// with 300 arguments.
func TestKaemSeed(t *testing.T) {
	var long, longWords []string
	for i := 1; i <= 300; i++ {
		w := fmt.Sprintf("arg-%03d-0123456789abcdef", i)
		longWords = append(longWords, w)
		if i%10 == 1 {
			long = append(long, " \\\n\t")
		} else {
			long = append(long, " ")
		}
		long = append(long, w)
	}
	script := "# bootchain kaem seed test: the line kinds of stage0-posix's scripts.\n" +
		"\n" +
		"./hex0-seed one.hex0 one.bin\n" +
		"/bin/sh ./args.sh first\n" +
		"# a comment line is skipped: /bin/sh ./args.sh comment\n" +
		"/bin/sh   ./args.sh\tspaced    and\t\ttabbed     words\n" +
		"./hex0-seed \\\n\ttwo.hex0 \\\n\ttwo.bin\n" +
		" \t \n" +
		"\n" +
		"/bin/true\n" +
		"/bin/sh ./env.sh\n" +
		"/bin/sh ./count.sh" + strings.Join(long, "") + "\n" +
		"/bin/sh ./args.sh last\n"
	wantEcho := " +> ./hex0-seed one.hex0 one.bin\n" +
		" +> /bin/sh ./args.sh first\n" +
		" +> /bin/sh ./args.sh spaced and tabbed words\n" +
		" +> ./hex0-seed two.hex0 two.bin\n" +
		" +> /bin/true\n" +
		" +> /bin/sh ./env.sh\n" +
		" +> /bin/sh ./count.sh " + strings.Join(longWords, " ") + "\n" +
		" +> /bin/sh ./args.sh last\n"
	wantLog := "[first]\n" +
		"[spaced][and][tabbed][words]\n" +
		"passed through as is\n" +
		"300 arg-001-0123456789abcdef arg-300-0123456789abcdef\n" +
		"[last]\n"
	for _, arch := range Arches {
		t.Run(arch, func(t *testing.T) {
			requireNative(t, arch)
			dir, kaem := kaemDir(t, arch, map[string]string{"kaem." + arch: script})
			r := run(t, dir, []string{"BOOTCHAIN_KAEM_TEST=passed through as is"}, kaem)
			if r.status != 0 {
				t.Errorf("%s (default script kaem.%s): exit status %d, want 0; stderr:\n%s", KaemSeed, arch, r.status, r.stderr)
			}
			if r.stdout != wantEcho {
				t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, wantEcho)
			}
			for file, want := range map[string]string{"log": wantLog, "one.bin": "Hello", "two.bin": "world"} {
				got, err := os.ReadFile(filepath.Join(dir, file))
				if err != nil {
					t.Errorf("%v", err)
					continue
				}
				if string(got) != want {
					t.Errorf("%s:\n%q\nwant:\n%q", file, got, want)
				}
			}
		})
	}
}

// TestKaemSeedFails checks that each kaem seed stops at the first command
// that fails or cannot start, after echoing it, and exits non-zero.
func TestKaemSeedFails(t *testing.T) {
	tests := []struct {
		name     string
		script   string // "" for no script at all
		wantEcho string
	}{
		{"exit 3", "/bin/sh ./args.sh before\n./fail3.sh\n/bin/sh ./args.sh after\n",
			" +> /bin/sh ./args.sh before\n +> ./fail3.sh\n"},
		{"killed", "/bin/sh ./args.sh before\n/bin/sh ./kill.sh\n/bin/sh ./args.sh after\n",
			" +> /bin/sh ./args.sh before\n +> /bin/sh ./kill.sh\n"},
		{"missing program", "/bin/sh ./args.sh before\n./no-such-program x\n/bin/sh ./args.sh after\n",
			" +> /bin/sh ./args.sh before\n +> ./no-such-program x\n"},
		{"missing script", "", ""},
	}
	for _, arch := range Arches {
		for _, tt := range tests {
			t.Run(arch+"/"+tt.name, func(t *testing.T) {
				requireNative(t, arch)
				scripts := map[string]string{}
				if tt.script != "" {
					scripts["test.kaem"] = tt.script
				}
				dir, kaem := kaemDir(t, arch, scripts)
				r := run(t, dir, nil, kaem, "test.kaem")
				if r.status == 0 {
					t.Errorf("exit status 0, want non-zero")
				}
				if want, ok := kaemStatus[arch][tt.name]; ok && r.status != want {
					t.Errorf("exit status %d, want %d as the seed's source documents", r.status, want)
				}
				if r.stdout != tt.wantEcho {
					t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, tt.wantEcho)
				}
				log, _ := os.ReadFile(filepath.Join(dir, "log"))
				if want := map[bool]string{true: "[before]\n", false: ""}[tt.script != ""]; string(log) != want {
					t.Errorf("log %q, want %q: the script must stop at the failure", log, want)
				}
			})
		}
	}
}

// TestSeedsUpstreamStage0POSIX puts our seeds in place of the bootstrap
// seeds in a copy of a stage0-posix tree and runs that tree's own scripts
// with them: mescc-tools-seed-kaem.kaem (our hex0 seed assembles upstream's
// hex0 and kaem-minimal, which must come out as our Go assembler makes them),
// then, unless -short, mescc-tools-mini-kaem.kaem (minutes: M2-Planet and
// mescc-tools built from source), whose bin/ outputs must match the tree's
// ARCH.answers.
func TestSeedsUpstreamStage0POSIX(t *testing.T) {
	root := os.Getenv("BOOTCHAIN_STAGE0_POSIX")
	if root == "" {
		t.Skip("BOOTCHAIN_STAGE0_POSIX is unset: set it to an unpacked stage0-posix 1.9.1 tree (with its submodules) to run our seeds on its kaem scripts")
	}
	for _, arch := range Arches {
		t.Run(arch, func(t *testing.T) {
			requireNative(t, arch)
			up := upstreamLayout[arch]
			if _, err := os.Stat(filepath.Join(root, up.dir, "mescc-tools-seed-kaem.kaem")); err != nil {
				t.Fatalf("BOOTCHAIN_STAGE0_POSIX=%s: not a stage0-posix tree for %s: %v", root, arch, err)
			}
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(root)); err != nil {
				t.Fatal(err)
			}
			seeds := filepath.Join(dir, "bootstrap-seeds", "POSIX", up.dir)
			for _, name := range Names {
				if err := os.Remove(filepath.Join(seeds, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					t.Fatal(err)
				}
			}
			_, kaem := writeSeeds(t, arch, seeds)
			seedScript := "./" + up.dir + "/mescc-tools-seed-kaem.kaem"
			r := run(t, dir, []string{}, kaem, seedScript)
			if r.status != 0 {
				t.Fatalf("%s %s: exit status %d\nstdout:\n%s\nstderr:\n%s", KaemSeed, seedScript, r.status, r.stdout, r.stderr)
			}
			for src, artifact := range map[string]string{up.hex0: "hex0", "kaem-minimal.hex0": "kaem-0"} {
				text, err := os.ReadFile(filepath.Join(dir, up.dir, src))
				if err != nil {
					t.Fatal(err)
				}
				want, err := AssembleLenient(bytes.NewReader(text))
				if err != nil {
					t.Fatal(err)
				}
				got, err := os.ReadFile(filepath.Join(dir, up.dir, "artifact", artifact))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s/artifact/%s: differs from Assemble(%s/%s)", up.dir, artifact, up.dir, src)
				}
			}
			t.Run("mescc-tools-mini-kaem", func(t *testing.T) {
				if testing.Short() {
					t.Skip("-short: mescc-tools-mini-kaem.kaem takes minutes")
				}
				miniScript := "./" + up.dir + "/mescc-tools-mini-kaem.kaem"
				r := runFor(t, 30*time.Minute, dir, []string{}, kaem, miniScript)
				if r.status != 0 {
					t.Fatalf("%s %s: exit status %d\nstdout (end):\n%s\nstderr (end):\n%s", KaemSeed, miniScript, r.status, tail(r.stdout), tail(r.stderr))
				}
				answers, err := os.ReadFile(filepath.Join(dir, up.answers))
				if err != nil {
					t.Fatal(err)
				}
				var checked []string
				for _, line := range strings.Split(string(answers), "\n") {
					f := strings.Fields(line)
					if len(f) != 2 {
						continue
					}
					b, err := os.ReadFile(filepath.Join(dir, f[1]))
					if errors.Is(err, fs.ErrNotExist) {
						continue // built by later stages
					}
					if err != nil {
						t.Fatal(err)
					}
					sum := sha256.Sum256(b)
					if got := hex.EncodeToString(sum[:]); got != f[0] {
						t.Errorf("%s: sha256 %s, %s says %s", f[1], got, up.answers, f[0])
					}
					checked = append(checked, f[1])
				}
				for _, bin := range []string{"M1", "hex2", "kaem"} {
					if p := up.dir + "/bin/" + bin; !slices.Contains(checked, p) {
						t.Errorf("%s: not built or not in %s", p, up.answers)
					}
				}
				t.Logf("checked against %s: %v", up.answers, checked)
			})
		})
	}
}

func tail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}
