package engine

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bootchain/bootchain/verify"
)

// toolsSources are the sources of the x86 chain's steps make to sed, each
// with the variable naming a real upstream tree of it (as in
// source.TestToolsSourcesUpstream) and a file of it to change.
var toolsSources = []upstreamSource{
	{"BOOTCHAIN_MAKE_382", "make", "make", "job.c"},
	{"BOOTCHAIN_LIVE_BOOTSTRAP", "live-bootstrap-tools", "make", "sysa/make-3.82/files/putenv_stub.c"},
	{"BOOTCHAIN_PATCH_259", "patch", "patch", "pch.c"},
	{"BOOTCHAIN_GZIP_124", "gzip", "gzip", "util.c"},
	{"BOOTCHAIN_TAR_112", "tar", "tar", "src/create.c"},
	{"BOOTCHAIN_TAR_LIB", "tar-lib", "tar", "lib/getopt.c"},
	{"BOOTCHAIN_SED_415", "sed", "sed", "lib/regcomp.c"},
}

// TestX86ToolsUpstream runs the x86 chain's steps make, patch, gzip, tar
// and sed on real upstream trees (every step afresh, each tool's check
// included), starting from a cache that holds the verified steps up to
// tcc-hello (BOOTCHAIN_TOOLS_CACHE, e.g. ~/.cache/bootchain after
// `bootchain run --until tcc-hello`), then, for each source, runs again
// with one byte of it changed: the run must stop at the step that reads
// the source, naming the file with the expected and the actual SHA-256.
// It needs the variables of toolsSources too; about a minute and a half.
// The fresh outputs are stored in that cache, as a run stores them.
func TestX86ToolsUpstream(t *testing.T) {
	cache := os.Getenv("BOOTCHAIN_TOOLS_CACHE")
	if cache == "" {
		t.Skip("set BOOTCHAIN_TOOLS_CACHE to a bootchain cache holding the x86 steps up to tcc-hello, and the variables of source.TestToolsSourcesUpstream, to run the real steps make to sed")
	}
	sources := upstreamTrees(t, toolsSources, "BOOTSTRAP.md says how to make it")
	c, o := runFresh(t, cache, sources, "make", "sed", 5)
	// Each tool's binary and its check's results are in the tree, pinned.
	final := c.FinalPins("sed")
	for _, p := range []string{"usr/bin/make", "usr/bin/patch", "usr/bin/gzip", "usr/bin/tar", "usr/bin/sed",
		"tools-check/make/make.txt", "tools-check/patch/patched.txt", "tools-check/gzip/round.txt",
		"tools-check/tar/gz/tar-check/sub/c.txt", "tools-check/sed/edited.txt"} {
		got, err := verify.File(filepath.Join(o.WorkDir, filepath.FromSlash(p)))
		if err != nil || got != final[p] {
			t.Errorf("%s: %s (%v), pinned %q", p, got, err, final[p])
		}
	}

	for _, s := range toolsSources {
		t.Run(s.source, func(t *testing.T) { flipStopsAt(t, c, o, s) })
	}
}
