package engine

import (
	"os"
	"path/filepath"
	"testing"
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
	c, o := runFresh(t, cache, map[string]string{"gcc-core": tree}, "gcc", "gcc-hello", 2)
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

	for _, flip := range gccFlips {
		t.Run(flip, func(t *testing.T) {
			flipStopsAt(t, c, o, upstreamSource{"BOOTCHAIN_GCC_2953", "gcc-core", "gcc", flip})
		})
	}
}
