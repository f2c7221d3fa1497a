package stage0

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// upstreamTree returns the built stage0-posix 1.9.1 tree named by
// BOOTCHAIN_STAGE0_POSIX, or skips.
func upstreamTree(t *testing.T) string {
	t.Helper()
	root := os.Getenv("BOOTCHAIN_STAGE0_POSIX")
	if root == "" {
		t.Skip("set BOOTCHAIN_STAGE0_POSIX to a stage0-posix 1.9.1 tree that kaem.x86 (or kaem.amd64) has been run in, to re-derive its artifacts")
	}
	return root
}

// builtArch skips unless the tree's archDir has been bootstrapped.
func builtArch(t *testing.T, root, archDir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(root, archDir, "artifact", "hex2-0")); err != nil {
		t.Skipf("BOOTCHAIN_STAGE0_POSIX=%s has no built %s/artifact/hex2-0; run kaem.%s in it first", root, archDir, strings.ToLower(archDir))
	}
}

// kaemStep is one command of a kaem script, with variables expanded and the
// working directory it runs in (relative to the tree root).
type kaemStep struct {
	dir     string
	program string
	args    []string
	line    int
	script  string
}

// readKaem reads the subset of kaem the stage0-posix scripts use: '#'
// comments, '\' line continuations, NAME=value assignments, ${NAME}
// expansion and cd.
// script is relative to root; the script starts in root.
func readKaem(t *testing.T, root, script string, vars map[string]string) []kaemStep {
	t.Helper()
	dir := "."
	data, err := os.ReadFile(filepath.Join(root, script))
	if err != nil {
		t.Fatalf("read kaem script: %v", err)
	}
	var steps []kaemStep
	sc := bufio.NewScanner(bytes.NewReader(data))
	lineNo, start := 0, 0
	cmd := ""
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if cmd == "" {
			start = lineNo
		}
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if strings.HasSuffix(strings.TrimSpace(line), "\\") {
			cmd += strings.TrimSuffix(strings.TrimSpace(line), "\\") + " "
			continue
		}
		cmd += line
		if k, v, ok := strings.Cut(strings.TrimSpace(cmd), "="); ok && !strings.ContainsAny(k, " \t") {
			vars[k] = strings.TrimSpace(strings.Trim(v, `"`))
			cmd = ""
			continue
		}
		for k, v := range vars {
			cmd = strings.ReplaceAll(cmd, "${"+k+"}", v)
		}
		fields := strings.Fields(cmd)
		cmd = ""
		if len(fields) == 0 {
			continue
		}
		if fields[0] == "cd" {
			dir = filepath.Join(dir, fields[1])
			continue
		}
		steps = append(steps, kaemStep{dir: dir, program: fields[0], args: fields[1:], line: start, script: script})
	}
	return steps
}

// TestUpstream re-derives, with the twins alone, every output of the
// stage0-posix bootstrap that a stage0 tool wrote (hex0, hex1, hex2-0, catm,
// M0, M1, hex2, blood-elf), feeding each step the twins' own earlier outputs,
// and compares each with the file the real chain left in the tree and with
// the release's answers file. Compiler steps (cc_*, M2-Planet,
// M2-Mesoplanet) are not derived: their outputs are read from the tree.
func TestUpstream(t *testing.T) {
	root := upstreamTree(t)
	for _, archDir := range []string{"x86", "AMD64"} {
		t.Run(archDir, func(t *testing.T) {
			builtArch(t, root, archDir)
			deriveTree(t, root, archDir)
		})
	}
}

func deriveTree(t *testing.T, root, archDir string) {
	vars := map[string]string{}
	// kaem.run sets the variables the full script uses; read it for them.
	readKaem(t, root, archDir+"/kaem.run", vars)
	var steps []kaemStep
	steps = append(steps, readKaem(t, root, archDir+"/mescc-tools-seed-kaem.kaem", map[string]string{})...)
	steps = append(steps, readKaem(t, root, archDir+"/mescc-tools-mini-kaem.kaem", map[string]string{})...)
	steps = append(steps, readKaem(t, root, archDir+"/mescc-tools-full-kaem.kaem", vars)...)

	derived := map[string][]byte{} // by path relative to root
	lastWriter := map[string]int{}
	type result struct {
		out  string
		data []byte
	}
	results := map[int]result{}
	for i, s := range steps {
		tool, arch, ok := IdentifyTool(s.program)
		if !ok {
			continue
		}
		if arch == "" {
			arch, _ = ParseArch(archDir)
		}
		c, err := ParseCommand(tool, arch, s.args)
		if err != nil {
			t.Errorf("%s:%d: %v", s.script, s.line, err)
			continue
		}
		read := func(name string) ([]byte, error) {
			p := filepath.Clean(filepath.Join(s.dir, name))
			if d, ok := derived[p]; ok {
				return d, nil
			}
			return os.ReadFile(filepath.Join(root, p))
		}
		out, err := c.Run(read)
		if err != nil {
			t.Errorf("%s:%d: %v", s.script, s.line, err)
			continue
		}
		p := filepath.Clean(filepath.Join(s.dir, c.Output))
		derived[p] = out
		lastWriter[p] = i
		results[i] = result{p, out}
	}

	answers := map[string]string{}
	answersFile := strings.ToLower(archDir) + ".answers"
	if data, err := os.ReadFile(filepath.Join(root, answersFile)); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if f := strings.Fields(l); len(f) == 2 {
				answers[f[1]] = f[0]
			}
		}
	}
	matched, answered := 0, 0
	for i, s := range steps {
		r, ok := results[i]
		if !ok || lastWriter[r.out] != i {
			continue
		}
		want, err := os.ReadFile(filepath.Join(root, r.out))
		if err != nil {
			t.Errorf("%s:%d: %s: %v", s.script, s.line, r.out, err)
			continue
		}
		sum := sha256.Sum256(r.data)
		if !bytes.Equal(r.data, want) {
			t.Errorf("%s:%d: %s: twin wrote %d bytes (sha256 %x), the chain wrote %d bytes", s.script, s.line, r.out, len(r.data), sum, len(want))
			continue
		}
		matched++
		if a, ok := answers[r.out]; ok {
			if a != hex.EncodeToString(sum[:]) {
				t.Errorf("%s: sha256 %x, %s says %s", r.out, sum, answersFile, a)
			}
			answered++
		}
		t.Logf("re-derived %s (%d bytes, sha256 %x)", r.out, len(r.data), sum)
	}
	t.Logf("re-derived %d outputs byte for byte, %d of them pinned in %s", matched, answered, answersFile)
	if matched == 0 {
		t.Error("no outputs re-derived")
	}
}
