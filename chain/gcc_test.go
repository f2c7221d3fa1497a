package chain

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestX86GCCChecks holds the pins of what steps gcc and gcc-hello check
// against what the checks expect: the step compares the program's output
// with a file shipped with the chain (or a line its script holds), and the
// pin must be that file's hash, so a change to one without the other fails
// here, before any run. It also holds the first GCC's road to its
// decisions: both steps verified, binutils left pending, gcc using no
// binutils.
func TestX86GCCChecks(t *testing.T) {
	c, err := Load("x86")
	if err != nil {
		t.Fatal(err)
	}
	step := func(name string) *Step {
		t.Helper()
		i := c.StepIndex(name)
		if i < 0 {
			t.Fatalf("chain x86 has no step %s", name)
		}
		return &c.Steps[i]
	}
	sum := func(b []byte) string {
		s := sha256.Sum256(b)
		return hex.EncodeToString(s[:])
	}
	want, err := os.ReadFile(filepath.Join("x86", "gcc", "gcc-hello.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		step, path, want string
	}{
		{"gcc-hello", "gcc-hello/output.txt", sum(want)},
		{"gcc", "gcc-check/result", sum([]byte(gccCheckLine(t) + "\n"))},
	} {
		if got := step(tc.step).Outputs[tc.path]; got != tc.want {
			t.Errorf("step %s pins %s as %q, want %s (what the check compares it with)", tc.step, tc.path, got, tc.want)
		}
	}
	for _, name := range []string{"gcc", "gcc-hello"} {
		if s := step(name); s.Unverified || s.Pending != "" || len(s.Outputs) == 0 {
			t.Errorf("step %s: unverified %v, pending %q, %d outputs; want a verified step with pins", name, s.Unverified, s.Pending, len(s.Outputs))
		}
	}
	if s := step("binutils"); !s.Unverified || s.Pending == "" {
		t.Errorf("step binutils: unverified %v, pending %q; want it pending in the unverified section", s.Unverified, s.Pending)
	}
	if c.StepIndex("binutils") < c.StepIndex("gcc-hello") {
		t.Error("step binutils comes before gcc-hello; gcc does not need it")
	}
	// gcc's as and ld are bootchain's scripts over tcc, installed where gcc
	// looks first.
	g := step("gcc")
	for _, p := range []string{"as", "ld", "cc1", "cpp0", "libgcc.a"} {
		if _, ok := g.Outputs["usr/lib/gcc-lib/i686-unknown-linux-gnu/2.95.3/"+p]; !ok {
			t.Errorf("step gcc pins no usr/lib/gcc-lib/i686-unknown-linux-gnu/2.95.3/%s", p)
		}
	}
	for _, p := range []string{"as", "ld"} {
		script, err := os.ReadFile(filepath.Join("x86", "gcc", "gcc-"+p+".sh"))
		if err != nil {
			t.Fatal(err)
		}
		if got := g.Outputs["usr/lib/gcc-lib/i686-unknown-linux-gnu/2.95.3/"+p]; got != sum(script) {
			t.Errorf("step gcc pins its %s as %s, want gcc-%s.sh's %s", p, got, p, sum(script))
		}
	}
}

// gccCheckLine is the line gcc.sh compares gcc-check.c's output with.
func gccCheckLine(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("x86", "gcc", "gcc.sh"))
	if err != nil {
		t.Fatal(err)
	}
	const pre = `if [ "$(cat result)" != "`
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, pre) {
			return strings.TrimSuffix(strings.TrimPrefix(l, pre), `" ]; then`)
		}
	}
	t.Fatal("gcc.sh compares gcc-check's result with no line")
	return ""
}
