package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/verify"
)

// stage0Tree returns BOOTCHAIN_STAGE0_POSIX or skips.
func stage0Tree(t *testing.T, what string) string {
	t.Helper()
	tree := os.Getenv("BOOTCHAIN_STAGE0_POSIX")
	if tree == "" {
		t.Skip("set BOOTCHAIN_STAGE0_POSIX to a stage0-posix 1.9.1 tree to " + what)
	}
	return tree
}

// TestDeriveX86Host re-derives the bottom of the real x86 chain on the host
// from the pinned stage0-posix files alone (a second, no QEMU, no sandbox)
// and holds every result against the chain's pins.
func TestDeriveX86Host(t *testing.T) {
	tree := stage0Tree(t, "re-derive the x86 stage0 tools on the host (about a second)")
	c := load(t, "x86")
	d, err := Derive(context.Background(), DeriveOptions{Chain: c, Sources: map[string]string{"stage0-posix": tree}, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	got := outputsOf(d)
	for _, p := range []string{
		"x86/artifact/hex0", "x86/artifact/kaem-0", "x86/artifact/hex1", "x86/artifact/hex2-0",
		"x86/artifact/catm", "x86/artifact/M0.hex2", "x86/artifact/M0",
		"x86/artifact/cc_x86-0.hex2", "x86/artifact/cc_x86-1.hex2", "x86/artifact/cc_x86", "x86/artifact/M2-0.c",
	} {
		o, ok := got[p]
		if !ok || !o.OK() || len(o.Given) != 0 {
			t.Errorf("%s: %+v, want derived from the pinned sources alone, equal to its pin", p, o)
		}
	}
	if len(got) != 11 {
		t.Errorf("derived %d outputs from the sources alone, want 11", len(got))
	}
	// What cc_x86 and M2 write (M1 assembly) cannot be derived, and neither
	// can what is assembled from it without a run's copy.
	for _, u := range d.Underived {
		t.Logf("not derived: %s: %s", u.Path, u.Reason)
	}
	if len(d.Underived) != 33 || !d.Report.OK {
		t.Errorf("%d outputs not derived, want 33; report ok %v %s", len(d.Underived), d.Report.OK, d.Report.Error)
	}
}

// TestDiverseSeedsX86 runs the real x86 chain twice, with bootchain's seeds
// and with another party's (stage0-posix's own bootstrap-seeds, or
// BOOTCHAIN_OTHER_SEEDS), and requires every intermediate file to have the
// same hash in both runs, and the Go twins to agree with both. About five
// minutes per run on two cores: run with -timeout 30m.
func TestDiverseSeedsX86(t *testing.T) {
	tree := stage0Tree(t, "run the x86 chain with bootchain's seeds and with upstream's and compare every intermediate (about 10 minutes; use -timeout 30m)")
	needSandbox(t)
	seeds := os.Getenv("BOOTCHAIN_OTHER_SEEDS")
	if seeds == "" {
		seeds = filepath.Join(tree, "bootstrap-seeds", "POSIX", "x86")
	}
	if fi, err := os.Stat(seeds); err != nil || !fi.IsDir() {
		t.Skipf("no other seeds at %s: set BOOTCHAIN_OTHER_SEEDS to a directory holding hex0-seed and kaem-optional-seed (BOOTCHAIN_STAGE0_POSIX is an archive, not a tree?)", seeds)
	}
	c, err := chain.Load("x86")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t) // one cache for both runs: the keys must keep them apart
	run := func(seedDir string) (*verify.Report, string) {
		o := e.opts(c)
		o.Sources = map[string]string{"stage0-posix": tree}
		o.WorkDir = filepath.Join(t.TempDir(), "w")
		o.SeedDir = seedDir
		o.Until = "full" // stage0 only: the Mes steps need the mes and nyacc sources
		rep, err := Run(context.Background(), o)
		if err != nil {
			t.Fatalf("seeds %q: %v", seedDir, err)
		}
		return rep, o.WorkDir
	}
	ours, oursDir := run("")
	theirs, theirsDir := run(seeds)

	if theirs.SeedsOurs == nil || ours.SeedsOurs != nil {
		t.Errorf("seeds_ours: ours %v, theirs %v", ours.SeedsOurs, theirs.SeedsOurs)
	}
	seedPaths := map[string]bool{}
	for _, s := range c.Seeds {
		seedPaths[s.Path] = true
		if theirs.Seeds[s.Name] == ours.Seeds[s.Name] {
			t.Errorf("seed %s: the same in both runs (%s): not a second seed set", s.Name, ours.Seeds[s.Name])
		}
		t.Logf("seed %s: ours %s, theirs %s", s.Name, ours.Seeds[s.Name], theirs.Seeds[s.Name])
	}
	for i, st := range theirs.Steps {
		if st.Cached {
			t.Errorf("step %s: the run with other seeds took it from the cache", st.Name)
		}
		a, b := map[string]string{}, map[string]string{}
		for _, r := range ours.Steps[i].Outputs {
			a[r.Path] = r.SHA256
		}
		same, derived := 0, 0
		for _, r := range st.Outputs {
			b[r.Path] = r.SHA256
			if a[r.Path] == r.SHA256 {
				same++
			} else {
				t.Errorf("step %s: %s: %s with our seeds, %s with theirs", st.Name, r.Path, a[r.Path], r.SHA256)
			}
			if r.Derived {
				derived++
			}
		}
		if len(a) != len(b) {
			t.Errorf("step %s: %d outputs with our seeds, %d with theirs", st.Name, len(a), len(b))
		}
		t.Logf("step %s: %d of %d outputs identical with both seed sets (%d re-derived by the Go twins)", st.Name, same, len(b), derived)
	}
	// The whole trees, not only the pinned outputs, less the seeds themselves.
	ta, tb := treeHashes(t, oursDir), treeHashes(t, theirsDir)
	diff := 0
	for p, h := range ta {
		if !seedPaths[p] && tb[p] != h {
			diff++
			t.Errorf("tree: %s: %s with our seeds, %q with theirs", p, h, tb[p])
		}
	}
	if len(ta) != len(tb) {
		t.Errorf("tree: %d files with our seeds, %d with theirs", len(ta), len(tb))
	}
	t.Logf("trees: %d files, %d differ besides the %d seeds", len(ta), diff, len(seedPaths))
	// And the twins agree with the run made from the other seeds.
	d, err := Derive(context.Background(), DeriveOptions{Chain: c, Sources: map[string]string{"stage0-posix": tree}, CacheDir: e.cache, WorkDir: theirsDir})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Report.OK || len(d.Derived) != 37 {
		t.Errorf("derive against the other seeds' run: %d derived, ok %v: %s", len(d.Derived), d.Report.OK, d.Report.Error)
	}
}
