package source

import (
	"testing"

	"github.com/bootchain/bootchain/chain"
)

// TestToBashSourcesUpstream opens the sources of the x86 chain's steps
// bzip2, coreutils, heirloom-devtools and bash from real upstream material,
// in the forms the chain accepts, and refuses each tree with one byte
// changed, naming the file, the expected and the actual SHA-256. Each of
// these sources is used by one step only, the one that reads it, so the
// run stops there (TestToBashSourcesOneStep). Set any of
//
//	BOOTCHAIN_BZIP2              bzip2-1.0.8.tar.gz (= Debian's bzip2_1.0.8.orig.tar.gz) or its tree
//	BOOTCHAIN_COREUTILS_50       a tree of coreutils tag v5.0 (or the release archive)
//	BOOTCHAIN_HEIRLOOM_DEVTOOLS  a tree of heirloom-project tag R070527, folder heirloom-devtools
//	BOOTCHAIN_BASH_205B          a tree of bminor/bash commit 7117c2d2 (or the release archive)
//	BOOTCHAIN_LIVE_BOOTSTRAP     a tree of live-bootstrap commit aae7c4a6
//
// to run the matching cases; the others skip.
func TestToBashSourcesUpstream(t *testing.T) {
	c, err := chain.Load("x86")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env, source, flip string
	}{
		{"BOOTCHAIN_BZIP2", "bzip2", "bzip2.c"},
		{"BOOTCHAIN_COREUTILS_50", "coreutils", "src/sort.c"},
		{"BOOTCHAIN_HEIRLOOM_DEVTOOLS", "heirloom-devtools", "yacc/y1.c"},
		{"BOOTCHAIN_BASH_205B", "bash", "execute_cmd.c"},
		{"BOOTCHAIN_LIVE_BOOTSTRAP", "live-bootstrap-bzip2", "sysa/bzip2-1.0.8/patches/mes-libc.patch"},
		{"BOOTCHAIN_LIVE_BOOTSTRAP", "live-bootstrap-coreutils", "sysa/coreutils-5.0/mk/main.mk"},
		{"BOOTCHAIN_LIVE_BOOTSTRAP", "live-bootstrap-heirloom-devtools", "sysa/heirloom-devtools-070527/patches/lex_remove_wchar.patch"},
		{"BOOTCHAIN_LIVE_BOOTSTRAP", "live-bootstrap-bash", "sysa/bash-2.05b/patches/tinycc.patch"},
	} {
		t.Run(tc.source, func(t *testing.T) {
			checkUpstreamSource(t, c, tc.env, tc.source, tc.flip, false)
		})
	}
}

// TestToBashSourcesOneStep: each source of steps bzip2 to bash is used by
// that step alone, so a changed byte in it stops the run at the step that
// reads it, before the step runs; and every file the sources pin is
// placed where no other source puts one.
func TestToBashSourcesOneStep(t *testing.T) {
	c, err := chain.Load("x86")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"bzip2": "bzip2", "live-bootstrap-bzip2": "bzip2", "bzip2-scripts": "bzip2",
		"coreutils": "coreutils", "live-bootstrap-coreutils": "coreutils", "coreutils-scripts": "coreutils",
		"heirloom-devtools": "heirloom-devtools", "live-bootstrap-heirloom-devtools": "heirloom-devtools", "heirloom-devtools-scripts": "heirloom-devtools",
		"bash": "bash", "live-bootstrap-bash": "bash", "bash-scripts": "bash",
	}
	users := map[string][]string{}
	for _, st := range c.Steps {
		for _, u := range st.Uses {
			users[u] = append(users[u], st.Name)
		}
	}
	placed := map[string]string{}
	for _, s := range c.Sources {
		for p := range s.Files {
			rp := s.RootPath(p)
			if other, ok := placed[rp]; ok {
				t.Errorf("%s: placed by sources %s and %s", rp, other, s.Name)
			}
			placed[rp] = s.Name
		}
	}
	for src, step := range want {
		if got := users[src]; len(got) != 1 || got[0] != step {
			t.Errorf("source %s is used by steps %v, want only %s", src, got, step)
		}
		s, ok := c.Source(src)
		if !ok || len(s.Files) == 0 {
			t.Errorf("source %s: missing, or pins no file", src)
		}
	}
}
