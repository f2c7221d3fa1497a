package engine

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bootchain/bootchain/chain"
)

func TestKaemCommands(t *testing.T) {
	script := "# comment\n\n./a b c # trailing\n./d \\\n\t-f x \\\n  -o y\n\t\n./e\n./f \\\n"
	got := kaemCommands([]byte(script))
	want := [][]string{{"./a", "b", "c"}, {"./d", "-f", "x", "-o", "y"}, {"./e"}, {"./f"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("kaemCommands = %q, want %q", got, want)
	}
}

// TestDeriveFixture: the fixture's data script assembles hex0 files; the
// Go hex0 twin derives the same bytes as the pins.
func TestDeriveFixture(t *testing.T) {
	c := load(t, fixtureDir)
	root := t.TempDir()
	src, _ := c.Source("fixture-src")
	for p := range src.Files {
		b, err := os.ReadFile(filepath.Join(fixtureDir, "src", p))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755)
		os.WriteFile(filepath.Join(root, p), b, 0o644)
	}
	st := c.Steps[c.StepIndex("data")]
	ds, err := derive(st, c.Arch, root)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != len(st.Outputs) {
		t.Errorf("derived %d files, want %d", len(ds), len(st.Outputs))
	}
	for p, pin := range st.Outputs {
		if ds[p].sha256 != pin {
			t.Errorf("%s: derived %s, pinned %s", p, ds[p].sha256, pin)
		}
	}
	if !strings.HasPrefix(ds["out/b"].command, "./bin/hex0 ./hex/b.hex0 ./out/b") {
		t.Errorf("command %q", ds["out/b"].command)
	}

	// A step whose program is itself a stage0 tool derives its one output.
	st = chain.Step{Argv: []string{"bin/hex0", "hex/a.hex0", "out/a"}, Dir: "/"}
	ds, err = derive(st, "x86", root)
	if err != nil || len(ds) != 1 || ds["out/a"].sha256 != c.Steps[c.StepIndex("data")].Outputs["out/a"] {
		t.Errorf("derive one command: %v %v", ds, err)
	}
	// A program that is neither a stage0 tool nor kaem with a script.
	st = chain.Step{Argv: []string{"./hello"}, Dir: "/out"}
	if _, err := derive(st, "x86", root); err == nil {
		t.Errorf("derive of a step without commands succeeded")
	}
}

// TestDeriveX86 re-derives the seed and mini steps of the x86 chain in a
// tree an earlier run left (BOOTCHAIN_X86_TREE, e.g. bootchain run --work).
func TestDeriveX86(t *testing.T) {
	tree := os.Getenv("BOOTCHAIN_X86_TREE")
	if tree == "" {
		t.Skip("set BOOTCHAIN_X86_TREE to a tree left by `bootchain run --chain x86 --work DIR` to re-derive its steps")
	}
	c := load(t, "x86")
	for _, name := range []string{"seed", "mini"} {
		st := c.Steps[c.StepIndex(name)]
		ds, err := derive(st, c.Arch, tree)
		if err != nil {
			t.Fatalf("step %s: %v", name, err)
		}
		for p, d := range ds {
			if pin, ok := st.Outputs[p]; !ok || pin != d.sha256 {
				t.Errorf("step %s: %s: derived %s, pinned %q", name, p, d.sha256, pin)
			}
		}
		t.Logf("step %s: %d of %d outputs re-derived", name, len(ds), len(st.Outputs))
	}
}
