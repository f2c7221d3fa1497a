package engine

import (
	"os"
	"path/filepath"
	"testing"
)

// muslSources are the upstream sources of the x86 chain's steps
// tcc-mes-pass2 to tcc-musl-pass2, each with the variable naming a real
// tree of it (BOOTCHAIN_LIVE_BOOTSTRAP as in TestX86ToolsUpstream), the
// step that first reads it and a file of it to change.
var muslSources = []upstreamSource{
	{"BOOTCHAIN_MUSL_1124", "musl", "musl", "src/stdio/vfprintf.c"},
	{"BOOTCHAIN_LIVE_BOOTSTRAP", "live-bootstrap-musl", "tcc-mes-pass2", "sysa/tcc-0.9.27/patches/ignore-static-inside-array.patch"},
}

// TestX86MuslUpstream runs the x86 chain's steps tcc-mes-pass2, musl,
// tcc-musl-pass1, musl-pass2 and tcc-musl-pass2 afresh on real upstream
// trees, starting from a cache that holds the verified steps up to bash
// (BOOTCHAIN_MUSL_CACHE, e.g. ~/.cache/bootchain after `bootchain run
// --until bash`), and checks what the last tcc's program printed; then,
// for each source, runs again with one byte of it changed: the run must
// stop at the step that first reads the source, naming the file with the
// expected and the actual SHA-256. BOOTCHAIN_MUSL_1124 names a tree of
// musl 1.1.24 (the chain's comment says how to make it) and
// BOOTCHAIN_LIVE_BOOTSTRAP a checkout of live-bootstrap aae7c4a6. About
// three minutes (musl is built twice). The fresh outputs are stored in
// that cache, as a run stores them.
func TestX86MuslUpstream(t *testing.T) {
	cache := os.Getenv("BOOTCHAIN_MUSL_CACHE")
	if cache == "" {
		t.Skip("set BOOTCHAIN_MUSL_CACHE to a bootchain cache holding the x86 steps up to bash, BOOTCHAIN_MUSL_1124 to a musl 1.1.24 tree and BOOTCHAIN_LIVE_BOOTSTRAP to a live-bootstrap aae7c4a6 checkout, to run the real steps tcc-mes-pass2 to tcc-musl-pass2")
	}
	sources := upstreamTrees(t, muslSources, "the chain's comment says how to make it")
	c, o := runFresh(t, cache, sources, "tcc-mes-pass2", "tcc-musl-pass2", 5)
	// The first musl printed 2.5 as 0.000; the last tcc and musl get it right.
	b, err := os.ReadFile(filepath.Join(o.WorkDir, "musl-check", "hello.txt"))
	if want := "2.500 1099511627776 2.08333 -157073089682\n"; err != nil || string(b) != want {
		t.Errorf("musl-check/hello.txt: %q (%v), want %q", b, err, want)
	}

	for _, s := range muslSources {
		t.Run(s.source, func(t *testing.T) { flipStopsAt(t, c, o, s) })
	}
}
