package source

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/verify"
)

// TestToolsSourcesUpstream opens the x86 chain's sources for the tools
// after TinyCC (make, patch, gzip, tar and its lib, sed, and
// live-bootstrap's files for them) from real upstream trees, as a tree and
// as an archive made of it, and checks that one changed byte in either form
// is refused, naming the file with the expected and the actual SHA-256.
// Set any of
//
//	BOOTCHAIN_MAKE_382        a tree of mirror/make tag 3.82
//	BOOTCHAIN_PATCH_259       a tree of mirror/patch tag v2.5.9
//	BOOTCHAIN_GZIP_124        a tree of GitMirroring/gzip commit f8df0e2
//	BOOTCHAIN_TAR_112         a tree of Distrotech/tar commit 3289dce
//	BOOTCHAIN_TAR_LIB         a tree of coreutils commit 9874f0ee (its lib/ is used)
//	BOOTCHAIN_SED_415         a tree of mirror/sed tag v4.1.5
//	BOOTCHAIN_LIVE_BOOTSTRAP  a tree of live-bootstrap commit aae7c4a6
//
// (BOOTSTRAP.md says how to make each) to run the matching case; the
// others skip. An archive of the release itself, when one has it, is
// accepted the same way: --source NAME=ARCHIVE.
func TestToolsSourcesUpstream(t *testing.T) {
	c, err := chain.Load("x86")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ env, source, flip string }{
		{"BOOTCHAIN_MAKE_382", "make", "job.c"},
		{"BOOTCHAIN_PATCH_259", "patch", "pch.c"},
		{"BOOTCHAIN_GZIP_124", "gzip", "sample/makecrc.c"},
		{"BOOTCHAIN_TAR_112", "tar", "src/create.c"},
		{"BOOTCHAIN_TAR_LIB", "tar-lib", "lib/getopt.c"},
		{"BOOTCHAIN_SED_415", "sed", "lib/regcomp.c"},
		{"BOOTCHAIN_LIVE_BOOTSTRAP", "live-bootstrap-tools", "sysa/gzip-1.2.4/patches/removecrc.patch"},
	} {
		t.Run(tc.source, func(t *testing.T) {
			given := os.Getenv(tc.env)
			if given == "" {
				t.Skipf("set %s to run this case on real upstream material (see the test's comment)", tc.env)
			}
			src, ok := c.Source(tc.source)
			if !ok {
				t.Fatalf("chain x86 has no source %s", tc.source)
			}
			if _, ok := src.Files[tc.flip]; !ok {
				t.Fatalf("source %s pins no %s", tc.source, tc.flip)
			}
			tree, err := Open(context.Background(), *src, given, t.TempDir())
			if err != nil {
				t.Fatalf("Open %s: %v", given, err)
			}
			files := map[string]string{}
			for p, want := range src.Files {
				b, err := os.ReadFile(tree.Path(p))
				if err != nil {
					t.Fatal(err)
				}
				if got := sum(b); got != want {
					t.Fatalf("%s: %s; pinned %s", p, got, want)
				}
				files[p] = string(b)
			}

			// An archive of the pinned files, one directory on top as in a
			// release (the chain strips one): accepted.
			archive := func(files map[string]string) string {
				var names []string
				for p := range files {
					names = append(names, p)
				}
				sort.Strings(names)
				es := []entry{}
				for _, p := range names {
					es = append(es, entry{name: "top/" + p, body: files[p]})
				}
				return put(t, filepath.Join(t.TempDir(), "a.tar.gz"), gz(t, makeTar(t, es)))
			}
			if _, err := Open(context.Background(), *src, archive(files), t.TempDir()); err != nil {
				t.Fatalf("Open of an archive of the pinned files: %v", err)
			}

			// One byte changed: refused in both forms, naming the file.
			b := []byte(files[tc.flip])
			b[len(b)/2] ^= 0x20
			changed := map[string]string{}
			for p, s := range files {
				changed[p] = s
			}
			changed[tc.flip] = string(b)
			for form, path := range map[string]string{"tree": checkout(t, changed), "archive": archive(changed)} {
				_, err := Open(context.Background(), *src, path, t.TempDir())
				var me *verify.MismatchError
				if !errors.As(err, &me) || me.Source != tc.source || me.Path != tc.flip || me.Expected != src.Files[tc.flip] || me.Actual != sum(b) {
					t.Fatalf("%s with one byte of %s changed: %v, want a mismatch naming it, expected %s, actual %s", form, tc.flip, err, src.Files[tc.flip], sum(b))
				}
				if !strings.HasPrefix(err.Error(), "source "+tc.source+": "+tc.flip+": sha256 is "+sum(b)+", expected "+src.Files[tc.flip]) {
					t.Errorf("%s: message %q", form, err)
				}
			}
		})
	}
}
