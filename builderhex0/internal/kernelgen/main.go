// Command kernelgen writes the commented hex0 of bootchain's own kernel for
// the builder-hex0 backend (package builderhex0): the boot sector and the
// kernel are written in GNU assembler (builderhex0/kernel/*.S) and this
// tool turns each into hex0 whose every line is the bytes of one source
// line, its address, and that source line with its comment. The hex0 is
// what a reader audits and what bootchain assembles; the assembly is how
// it was written. Run it from the module root after changing a .S file:
//
//	go run ./builderhex0/internal/kernelgen
//
// It needs the host's binutils (as, ld) for i386. It checks that the
// hex0 assembles (with bootchain's own hex0 assembler) to exactly the
// bytes the linker produced, and leaves the files unchanged otherwise.
package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/bootchain/bootchain/hex0"
)

// Part is one file of the kernel: its assembly source and where it runs.
type Part struct {
	Source string // .S file, relative to the kernel directory
	Output string // .hex0 file, relative to the kernel directory
	Base   uint32 // the address its first byte is loaded at
}

// Parts are the kernel's two files.
var Parts = []Part{
	{Source: "stage1.S", Output: "stage1.hex0", Base: 0x7C00},
	{Source: "stage2.S", Output: "stage2.hex0", Base: 0x8000},
}

// KernelDir is the kernel's directory, relative to the module root.
const KernelDir = "builderhex0/kernel"

func main() {
	ctx := context.Background()
	for _, p := range Parts {
		src := filepath.Join(KernelDir, p.Source)
		text, _, err := Generate(ctx, src, p.Base)
		if err != nil {
			fmt.Fprintf(os.Stderr, "kernelgen: %v\n", err)
			os.Exit(1)
		}
		out := filepath.Join(KernelDir, p.Output)
		if err := writeAtomic(out, text); err != nil {
			fmt.Fprintf(os.Stderr, "kernelgen: %v\n", err)
			os.Exit(1)
		}
		fmt.Printf("%s: %d bytes of hex0\n", out, len(text))
	}
}

func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Generate assembles the GNU assembler file src for i386, links it at
// base, and returns its commented hex0 and the bytes it stands for.
func Generate(ctx context.Context, src string, base uint32) ([]byte, []byte, error) {
	source, err := os.ReadFile(src)
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "kernelgen-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	obj, lst, bin := filepath.Join(dir, "o.o"), filepath.Join(dir, "o.lst"), filepath.Join(dir, "o.bin")
	if err := run(ctx, "as", "--32", "-al="+lst, "-o", obj, src); err != nil {
		return nil, nil, err
	}
	if err := run(ctx, "ld", "-m", "elf_i386", "-Ttext="+fmt.Sprintf("%#x", base), "-e", fmt.Sprintf("%#x", base), "--oformat=binary", "-o", bin, obj); err != nil {
		return nil, nil, err
	}
	code, err := os.ReadFile(bin)
	if err != nil {
		return nil, nil, err
	}
	listing, err := os.ReadFile(lst)
	if err != nil {
		return nil, nil, err
	}
	offs, err := parseListing(listing)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: listing: %w", src, err)
	}
	text, err := render(filepath.Base(src), source, offs, code, base)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", src, err)
	}
	got, err := hex0.Assemble(bytes.NewReader(text))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: the generated hex0 does not assemble: %w", src, err)
	}
	if !bytes.Equal(got, code) {
		return nil, nil, fmt.Errorf("%s: the generated hex0 assembles to %d bytes that differ from the linker's %d", src, len(got), len(code))
	}
	return text, code, nil
}

func run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	return nil
}

// emitted is a source line that produced bytes, at offset off.
type emitted struct {
	line int
	off  int
}

var (
	listAddr = regexp.MustCompile(`^\s*(\d+) ([0-9a-f]{4}) ([0-9A-F]+)`)
)

// parseListing returns, in address order, the source lines of an `as -al`
// listing that produced bytes and the offset of each one's first byte.
func parseListing(b []byte) ([]emitted, error) {
	var out []emitted
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		m := listAddr.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		line, _ := strconv.Atoi(m[1])
		off, _ := strconv.ParseInt(m[2], 16, 32)
		if n := len(out); n > 0 && int(off) < out[n-1].off {
			return nil, fmt.Errorf("line %d: offset %#x goes back (only one section is supported)", line, off)
		}
		if n := len(out); n > 0 && out[n-1].line == line {
			continue
		}
		out = append(out, emitted{line, int(off)})
	}
	return out, sc.Err()
}

// render writes the hex0: the source's comment lines as they are, every
// other source line as a comment, and before it the bytes it produced
// (eight to a line) with their address.
func render(name string, source []byte, offs []emitted, code []byte, base uint32) ([]byte, error) {
	lines := strings.Split(strings.TrimRight(string(source), "\n"), "\n")
	at := map[int][2]int{} // source line -> [start, end) in code
	for i, e := range offs {
		end := len(code)
		if i+1 < len(offs) {
			end = offs[i+1].off
		}
		if end > len(code) || e.off > end {
			return nil, fmt.Errorf("line %d: bytes %#x-%#x outside the %d linked bytes", e.line, e.off, end, len(code))
		}
		at[e.line] = [2]int{e.off, end}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# %s, as commented hex0: generated from %s by builderhex0/internal/kernelgen.\n", strings.TrimSuffix(name, ".S")+".hex0", name)
	b.WriteString("# Each line holds the bytes of one source line, then after '#' their address\n")
	b.WriteString("# and that source line (instruction or data, and why). Lines of the source\n")
	b.WriteString("# that produce no bytes follow as comments. Only the hex digits before a\n")
	b.WriteString("# '#' count; `sed 's/[#;].*//' FILE | xxd -r -p` gives the same bytes.\n")
	b.WriteString("#\n")
	for i, l := range lines {
		n := i + 1
		t := strings.TrimSpace(strings.ReplaceAll(l, "\t", " "))
		r, ok := at[n]
		switch {
		case ok:
			instr, why, _ := strings.Cut(strings.TrimSpace(l), "#")
			instr = strings.Join(strings.Fields(instr), " ")
			why = strings.TrimSpace(why)
			for s := r[0]; s < r[1]; s += 8 {
				e := min(s+8, r[1])
				var hx []string
				for _, c := range code[s:e] {
					hx = append(hx, fmt.Sprintf("%02X", c))
				}
				if s == r[0] {
					fmt.Fprintf(&b, "%-14s # %04X  %-24s %s\n", strings.Join(hx, " "), base+uint32(s), instr, why)
				} else {
					fmt.Fprintf(&b, "%-14s # %04X\n", strings.Join(hx, " "), base+uint32(s))
				}
			}
		case t == "":
			b.WriteString("\n")
		case strings.HasPrefix(t, "#"):
			b.WriteString(t + "\n")
		default:
			b.WriteString("#  " + t + "\n")
		}
	}
	out := []byte(b.String())
	if i := bytes.IndexByte(out, 0); i >= 0 {
		return nil, fmt.Errorf("a zero byte at offset %d of the hex0", i)
	}
	return out, nil
}
