package source

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/verify"
)

// TestTCCSourcesUpstream opens the x86 chain's TinyCC sources from real
// upstream material, in every form the chain accepts: janneke's tcc
// 0.9.26-1136-g5bba73cc as its release archive (or the one remade from git,
// BOOTSTRAP.md) and as a tree of commit 5bba73cc, TinyCC 0.9.27 as a tree
// of tag release_0_9_27 (and its release .tar.bz2 when one has it), and
// live-bootstrap's files as a tree of commit aae7c4a6. A copy of each tree
// with one byte changed must be refused, naming the file. Set any of
//
//	BOOTCHAIN_TCC_0926_ARCHIVE  tcc-0.9.26-1136-g5bba73cc.tar.gz
//	BOOTCHAIN_TCC_0926          a tree of commit 5bba73cc
//	BOOTCHAIN_TCC_0927          a tree of tag release_0_9_27
//	BOOTCHAIN_TCC_0927_ARCHIVE  tcc-0.9.27.tar.bz2
//	BOOTCHAIN_LIVE_BOOTSTRAP    a tree of live-bootstrap commit aae7c4a6
//
// to run the matching case; the others skip.
func TestTCCSourcesUpstream(t *testing.T) {
	c, err := chain.Load("x86")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env, source, flip string
		archive           bool
	}{
		{"BOOTCHAIN_TCC_0926_ARCHIVE", "tcc-0.9.26", "", true},
		{"BOOTCHAIN_TCC_0926", "tcc-0.9.26", "tcctools.c", false},
		{"BOOTCHAIN_TCC_0927", "tcc-0.9.27", "tccelf.c", false},
		{"BOOTCHAIN_TCC_0927_ARCHIVE", "tcc-0.9.27", "", true},
		{"BOOTCHAIN_LIVE_BOOTSTRAP", "live-bootstrap", "sysa/tcc-0.9.26/simple-patches/remove-fileopen.before", false},
	} {
		t.Run(tc.env, func(t *testing.T) {
			checkUpstreamSource(t, c, tc.env, tc.source, tc.flip, tc.archive)
		})
	}
}

// checkUpstreamSource opens source from the real material named by the
// environment variable env (skipping without it), checks every pinned file,
// and, when flip names one, opens a copy of the pinned files with one byte
// of flip changed: that must be refused with a mismatch naming the source,
// the file and the pinned SHA-256.
func checkUpstreamSource(t *testing.T, c *chain.Chain, env, source, flip string, archive bool) {
	t.Helper()
	given := os.Getenv(env)
	if given == "" {
		t.Skipf("set %s to run this case on real upstream material (see the test's comment)", env)
	}
	src, ok := c.Source(source)
	if !ok {
		t.Fatalf("chain x86 has no source %s", source)
	}
	if archive {
		if got, err := verify.File(given); err != nil || got != src.ArchiveSHA256 {
			t.Errorf("%s: sha256 %s (%v), the chain pins the archive as %s", given, got, err, src.ArchiveSHA256)
		}
	}
	tree, err := Open(context.Background(), *src, given, t.TempDir())
	if err != nil {
		t.Fatalf("Open %s: %v", given, err)
	}
	for p, want := range src.Files {
		if got, err := verify.File(tree.Path(p)); err != nil || got != want {
			t.Fatalf("%s: %s, %v; pinned %s", p, got, err, want)
		}
	}
	if flip == "" {
		return
	}
	// A copy of the pinned files (all the chain reads), one changed.
	changed := filepath.Join(t.TempDir(), "tree")
	for p := range src.Files {
		b, err := os.ReadFile(tree.Path(p))
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(changed, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	name := filepath.Join(changed, filepath.FromSlash(flip))
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x20
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), *src, changed, t.TempDir())
	var me *verify.MismatchError
	if !errors.As(err, &me) || me.Source != source || me.Path != flip || me.Expected != src.Files[flip] {
		t.Fatalf("Open with one byte of %s changed: %v, want a mismatch naming it", flip, err)
	}
	if !strings.HasPrefix(err.Error(), "source "+source+": "+flip+": sha256 is ") ||
		me.Actual == "" || me.Actual == me.Expected || !strings.Contains(err.Error(), me.Actual) || !strings.Contains(err.Error(), me.Expected) {
		t.Errorf("message %q: want the file, the actual and the expected SHA-256", err)
	}
}
