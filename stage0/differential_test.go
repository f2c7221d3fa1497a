package stage0

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// realTool runs one of the bootstrapped upstream tools on input and returns
// what it wrote, or an error if it failed, crashed or hung.
type realTool struct {
	name string
	path string
	args func(in, out string) []string
}

func (r realTool) run(t *testing.T, input []byte) ([]byte, error) {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	if err := os.WriteFile(in, input, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.path, r.args(in, out)...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s hung", r.name)
		}
		return nil, fmt.Errorf("%s: %v: %s", r.name, err, strings.TrimSpace(stderr.String()))
	}
	return os.ReadFile(out)
}

// twinCase pairs a twin with the upstream tool it stands in for and a
// generator of inputs in that tool's language.
type twinCase struct {
	real realTool
	twin func(src []byte) ([]byte, error)
	gen  func(r *rand.Rand) []byte
}

func differentialCases(root, archDir string, arch Arch) []twinCase {
	seedArgs := func(in, out string) []string { return []string{in, out} }
	tool := func(name string, args func(in, out string) []string) realTool {
		dir := "artifact"
		if strings.HasPrefix(name, "bin/") {
			dir, name = "bin", strings.TrimPrefix(name, "bin/")
		}
		return realTool{name: archDir + "/" + dir + "/" + name, path: filepath.Join(root, archDir, dir, name), args: args}
	}
	base := fmt.Sprintf("0x%X", SeedBaseAddress(arch))
	endian := func(extra ...string) func(in, out string) []string {
		return func(in, out string) []string {
			return append(append([]string{}, extra...), "--little-endian", "-f", in, "-o", out)
		}
	}
	bloodArgs := []string{}
	if arch == AMD64 {
		bloodArgs = []string{"--64"}
	}
	return []twinCase{
		{tool("hex1", seedArgs), func(src []byte) ([]byte, error) { return Hex1(src, arch) }, genHex1},
		{tool("hex2-0", seedArgs), func(src []byte) ([]byte, error) { return Hex2Seed(src, arch) }, genHex2(false)},
		{tool("M0", seedArgs), func(src []byte) ([]byte, error) { return M0(src, arch) }, genM1(true)},
		{tool("bin/M1", endian("--architecture", string(arch))),
			func(src []byte) ([]byte, error) { return M1(src, M1Options{Arch: arch}) }, genM1(false)},
		{tool("bin/hex2", endian("--architecture", string(arch), "--base-address", base)),
			func(src []byte) ([]byte, error) {
				return Hex2(src, Hex2Options{Arch: arch, BaseAddress: SeedBaseAddress(arch)})
			}, genHex2(true)},
		{tool("bin/blood-elf", endian(bloodArgs...)),
			func(src []byte) ([]byte, error) {
				return BloodElf([]File{{Data: src}}, BloodElfOptions{Bits64: arch == AMD64})
			}, genM1(false)},
	}
}

// TestDifferential runs each twin and the bootstrapped upstream tool it
// stands in for on the golden inputs, the fuzz seeds and a few hundred
// generated inputs, and requires the same output wherever the twin accepts
// the input, and a failure (or hang) of the real tool wherever the twin
// reports an error other than one for undefined behaviour.
func TestDifferential(t *testing.T) {
	root := upstreamTree(t)
	n := 200
	if testing.Short() {
		n = 30
	}
	for _, archDir := range []string{"x86", "AMD64"} {
		t.Run(archDir, func(t *testing.T) {
			builtArch(t, root, archDir)
			arch, _ := ParseArch(archDir)
			for _, c := range differentialCases(root, archDir, arch) {
				t.Run(filepath.Base(c.real.path), func(t *testing.T) {
					t.Parallel()
					if _, err := os.Stat(c.real.path); err != nil {
						t.Skipf("%s not built: %v", c.real.name, err)
					}
					inputs := fixedInputs(t)
					r := rand.New(rand.NewSource(1))
					for i := 0; i < n; i++ {
						inputs = append(inputs, c.gen(r))
					}
					same, bothFail := 0, 0
					for _, in := range inputs {
						want, realErr := c.real.run(t, in)
						got, twinErr := c.twin(in)
						switch {
						case twinErr == nil && realErr == nil:
							if !bytes.Equal(got, want) {
								t.Errorf("input %q:\ntwin  %q\nreal  %q", in, got, want)
								continue
							}
							same++
						case twinErr == nil:
							t.Errorf("input %q: twin wrote %q, but %v", in, got, realErr)
						case realErr == nil:
							if !undefinedBehaviour(twinErr) {
								t.Errorf("input %q: twin says %v, but %s wrote %q", in, twinErr, c.real.name, want)
							} else {
								t.Logf("twin rejects %q (%v); upstream's output depends on memory it never wrote", in, twinErr)
							}
						default:
							bothFail++
							if bothFail <= 3 {
								t.Logf("both reject %q: twin: %v; real: %v", in, twinErr, realErr)
							}
						}
					}
					t.Logf("%d inputs: %d identical outputs, %d rejected by both", len(inputs), same, bothFail)
				})
			}
		})
	}
}

// undefinedBehaviour reports whether a twin's error is for input on which
// upstream silently does something that depends on memory it never wrote.
func undefinedBehaviour(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Undefined
}

// fixedInputs are the golden inputs and the fuzz seed corpora.
func fixedInputs(t *testing.T) [][]byte {
	var inputs [][]byte
	for _, pattern := range []string{"testdata/*/*.hex1", "testdata/*/*.hex2", "testdata/*/*.M1", "testdata/fuzz/*/*"} {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(f, "testdata/fuzz/") {
				lines := strings.SplitN(string(data), "\n", 3)
				q, ok := strings.CutPrefix(strings.TrimSuffix(lines[1], ")"), "[]byte(")
				s, err := strconv.Unquote(q)
				if !ok || err != nil {
					t.Fatalf("%s: not a go test fuzz v1 []byte corpus entry", f)
				}
				data = []byte(s)
			}
			inputs = append(inputs, data)
		}
	}
	return inputs
}

func pick(r *rand.Rand, choices ...string) string { return choices[r.Intn(len(choices))] }

// genHex1 writes hex1 whose labels are all defined, ending in a line end.
func genHex1(r *rand.Rand) []byte {
	var b strings.Builder
	labels := "abXY01:%"
	for _, l := range labels {
		if r.Intn(3) > 0 {
			b.WriteString(":" + string(l) + pick(r, " ", "", "\n"))
		}
	}
	for i := r.Intn(40); i > 0; i-- {
		switch r.Intn(10) {
		case 0:
			b.WriteString(":" + string(labels[r.Intn(len(labels))]))
		case 1:
			b.WriteString("%" + string(labels[r.Intn(len(labels))]))
		case 2:
			b.WriteString(pick(r, "# comment\n", "; comment\r", "#\n"))
		default:
			b.WriteString(pick(r, "0", "9", "a", "F", "g", " ", "\t", "\n", "!", "&", "\xfc", "\r"))
		}
	}
	// Use every label once so none is undefined.
	for _, l := range labels {
		b.WriteString(" %" + string(l) + " :" + string(l))
	}
	b.WriteString("\n")
	return []byte(b.String())
}

// genHex2 writes hex2 with a few short labels, ending in a line end.
func genHex2(c bool) func(r *rand.Rand) []byte {
	return func(r *rand.Rand) []byte {
		var b strings.Builder
		labels := []string{"a", "bb", "l_1", "x;y"}
		b.WriteString(":" + labels[0] + "\n")
		prefixes := "!@$%&"
		if c {
			prefixes += "~"
		}
		for i := r.Intn(40); i > 0; i-- {
			switch r.Intn(10) {
			case 0:
				b.WriteString(":" + labels[r.Intn(len(labels))] + pick(r, " ", "\n", "\t", ">"))
			case 1, 2:
				p := string(prefixes[r.Intn(len(prefixes))])
				if !c || r.Intn(2) == 0 {
					p = pick(r, "!", "%", "&")
					if c {
						p = pick(r, "%", "&")
					}
				}
				b.WriteString(p + labels[r.Intn(len(labels))])
				if r.Intn(4) == 0 {
					b.WriteString(">" + labels[r.Intn(len(labels))])
				}
				b.WriteString(pick(r, " ", "\n", "\t"))
			case 3:
				b.WriteString(pick(r, "# comment\n", "; comment\r", "#\n"))
			default:
				b.WriteString(pick(r, "0", "9", "a", "F", "g", " ", "\t", "\n", "<", "^", "\r", "\xfc"))
			}
		}
		for _, l := range labels {
			b.WriteString("\n:" + l + "\n")
		}
		return []byte(b.String())
	}
}

// genM1 writes M1 (or, for M0, its subset) whose words are all defined,
// ending in a line end.
func genM1(m0 bool) func(r *rand.Rand) []byte {
	return func(r *rand.Rand) []byte {
		var b strings.Builder
		names := []string{"nop", "mov_eax,", "x"}
		values := func() string { return pick(r, "90", "B8", "'0F05'", "\"AB\"", "%1", "!-1", "x") }
		for _, n := range names {
			if !m0 || r.Intn(4) > 0 {
				b.WriteString("DEFINE " + n + " " + values() + "\n")
			}
		}
		for i := r.Intn(30); i > 0; i-- {
			switch r.Intn(12) {
			case 0:
				b.WriteString("DEFINE " + names[r.Intn(len(names))] + pick(r, " ", "\t", " ", "\t", "\n") + values() + "\n")
			case 1, 2:
				b.WriteString(names[r.Intn(len(names))])
			case 3:
				if r.Intn(8) == 0 {
					b.WriteString("<" + pick(r, "", "0", "1", "-1", "0x10", "abc", "0abc"))
					break
				}
				b.WriteString(pick(r, "!", "@", "$", "~", "%", "&") +
					pick(r, "0", "1", "-1", "255", "256", "-129", "0x7F", "0xFFFF", "0x", "012", "0b101", "1_0", "abc", "0abc",
						"65536", "-32769", "4294967296", "2147483648", "0x1F", "0xab", "-0x10", "0x-10", "8388608"))
			case 4:
				b.WriteString(pick(r, "'0F 05'", "\"hi\"", "\"\"", "''", "\"a\nb\"", "'x'", "\"'\"", "'\"'"))
			case 5:
				b.WriteString(pick(r, ":label", "%label", "&label", ":l>m", "^x", "<", "!l", "$l", "@l", "~l"))
			case 6:
				b.WriteString(pick(r, "# comment\n", "; c\r\n", "#\n"))
			case 7:
				b.WriteString(pick(r, "\n", "\n\n", "\n\r\n"))
			default:
				b.WriteString(pick(r, " ", "\t", "  "))
			}
			b.WriteString(pick(r, " ", "\n", "\t"))
		}
		b.WriteString("\nnop\n")
		return []byte(b.String())
	}
}
