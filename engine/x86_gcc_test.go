package engine

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/verify"
)

// gccFlips names, for the source of step gcc, files of it to change one
// byte of: a C source tcc compiles into cc1, the grammar the step's yacc
// remakes the parser from, and a configure script the release generated
// (trusted, so it must at least be the pinned one).
var gccFlips = []string{"gcc/gcc.c", "gcc/c-parse.in", "gcc/configure"}

// TestX86GCCUpstream runs the x86 chain's steps gcc and gcc-hello afresh on
// a real gcc-core 2.95.3 tree, starting from a cache that holds the
// verified steps up to tcc-musl-pass2 (BOOTCHAIN_GCC_CACHE, e.g.
// ~/.cache/bootchain after `bootchain run --until tcc-musl-pass2`), and
// checks what the new gcc's two programs printed; then, for each file of
// gccFlips, runs again with one byte of it changed: the run must stop at
// step gcc, before it runs, naming the file with the expected and the
// actual SHA-256. BOOTCHAIN_GCC_2953 names the tree (the chain's comment
// says how to make it). About three minutes on two cores. The fresh
// outputs are stored in that cache, as a run stores them.
func TestX86GCCUpstream(t *testing.T) {
	cache := os.Getenv("BOOTCHAIN_GCC_CACHE")
	tree := os.Getenv("BOOTCHAIN_GCC_2953")
	if cache == "" || tree == "" {
		t.Skip("set BOOTCHAIN_GCC_CACHE to a bootchain cache holding the x86 steps up to tcc-musl-pass2 and BOOTCHAIN_GCC_2953 to a gcc-core 2.95.3 tree, to run the real steps gcc and gcc-hello")
	}
	if _, err := os.Stat(filepath.Join(tree, "gcc", "gcc.c")); err != nil {
		t.Skipf("BOOTCHAIN_GCC_2953 is not a gcc-core 2.95.3 tree: %v", err)
	}
	needSandbox(t)
	c, err := chain.Load("x86")
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string]string{"gcc-core": tree}
	o := Options{Chain: c, CacheDir: cache, TempDir: t.TempDir(), Sources: sources,
		From: "gcc", Until: "gcc-hello", NoCache: true, WorkDir: filepath.Join(t.TempDir(), "w")}
	rep, err := Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, st := range rep.Steps {
		switch i := c.StepIndex(st.Name); {
		case i < c.StepIndex("gcc"):
			if st.Status != verify.StatusPlaced {
				t.Errorf("step %s: %s, want %s", st.Name, st.Status, verify.StatusPlaced)
			}
		case i <= c.StepIndex("gcc-hello"):
			ran++
			if st.Status != verify.StatusOK || st.Cached {
				t.Errorf("step %s: %s (cached %v), want it run and verified", st.Name, st.Status, st.Cached)
			}
		}
	}
	if ran != 2 {
		t.Errorf("ran %d of the steps gcc and gcc-hello, want 2", ran)
	}
	hello, err := os.ReadFile(filepath.Join("..", "chain", "x86", "gcc", "gcc-hello.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"gcc-check/result":     "gcc 2.95.3: 1+2+...+100 = 5050, 2^40 = 1099511627776\n",
		"gcc-hello/output.txt": string(hello),
	} {
		b, err := os.ReadFile(filepath.Join(o.WorkDir, filepath.FromSlash(file)))
		if err != nil || string(b) != want {
			t.Errorf("%s: %q (%v), want %q", file, b, err, want)
		}
	}

	src, _ := c.Source("gcc-core")
	for _, flip := range gccFlips {
		t.Run(flip, func(t *testing.T) {
			want, ok := src.Files[flip]
			if !ok {
				t.Fatalf("source gcc-core pins no %s", flip)
			}
			changed, actual := flippedCopy(t, src.Files, func(p string) string { return filepath.Join(tree, filepath.FromSlash(p)) }, flip)
			o2 := o
			o2.Sources = map[string]string{"gcc-core": changed}
			// Not --from: every step before gcc comes from the cache, and
			// gcc opens the source.
			o2.From, o2.NoCache, o2.WorkDir = "", false, ""
			runStopsAt(t, c, o2, "gcc", "gcc-core", flip, want, actual)
		})
	}
}
