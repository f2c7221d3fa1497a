package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bootchain/bootchain/qemu"
	"github.com/bootchain/bootchain/verify"
)

// amd64FromSources are the outputs of the amd64 chain the Go twins derive
// from the pinned stage0-posix files alone: the path from hex0 to the first
// C compiler, cc_amd64, and the C source M2 is built from.
var amd64FromSources = []string{
	"AMD64/artifact/hex0", "AMD64/artifact/kaem-0", "AMD64/artifact/hex1", "AMD64/artifact/hex2-0",
	"AMD64/artifact/catm", "AMD64/artifact/M0.hex2", "AMD64/artifact/M0",
	"AMD64/artifact/cc_amd64.hex2", "AMD64/artifact/cc_amd64-0.hex2", "AMD64/artifact/cc_amd64", "AMD64/artifact/M2-0.c",
}

// TestDeriveAMD64Host re-derives the bottom of the real amd64 chain on the
// host from the pinned stage0-posix files alone (no run, no sandbox, no
// QEMU) and holds every result against the chain's pins.
func TestDeriveAMD64Host(t *testing.T) {
	tree := stage0Tree(t, "re-derive the amd64 stage0 tools on the host (about a second)")
	c := load(t, "amd64")
	d, err := Derive(context.Background(), DeriveOptions{Chain: c, Sources: map[string]string{"stage0-posix": tree}, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	got := outputsOf(d)
	for _, p := range amd64FromSources {
		o, ok := got[p]
		if !ok || !o.OK() || len(o.Given) != 0 {
			t.Errorf("%s: %+v, want derived from the pinned sources alone, equal to its pin", p, o)
		}
	}
	if len(got) != len(amd64FromSources) {
		t.Errorf("derived %d outputs from the sources alone, want %d", len(got), len(amd64FromSources))
	}
	// What cc_amd64 and M2 write (M1 assembly) cannot be derived, and
	// neither can what is assembled from it without a run's copy.
	if len(d.Underived) != 33 || !d.Report.OK {
		t.Errorf("%d outputs not derived, want 33; report ok %v %s", len(d.Underived), d.Report.OK, d.Report.Error)
	}
}

// TestAMD64Upstream runs the embedded amd64 chain on a real stage0-posix
// 1.9.1 tree (about a minute on two cores, sandbox backend): every step
// verifies, upstream's own amd64.answers hold in the tree it leaves, the Go
// twins re-derive what the stage0 tools wrote, and a second run with
// upstream's AMD64 seeds (bootstrap-seeds/POSIX/AMD64) in place of ours
// gives the same hash for every intermediate.
func TestAMD64Upstream(t *testing.T) {
	tree := stage0Tree(t, "run the real amd64 chain (about a minute)")
	needSandbox(t)
	c := load(t, "amd64")
	e := newEnv(t)
	run := func(seedDir string) (*verify.Report, string) {
		o := e.opts(c)
		o.Sources = map[string]string{"stage0-posix": tree}
		o.WorkDir = filepath.Join(t.TempDir(), "w")
		o.SeedDir = seedDir
		rep, err := Run(context.Background(), o)
		if err != nil {
			t.Fatalf("seeds %q: %v", seedDir, err)
		}
		return rep, o.WorkDir
	}
	ours, dir := run("")
	if got := stepStatus(ours); got != "seed=ok mini=ok full=ok" {
		t.Errorf("steps: %s, want seed=ok mini=ok full=ok", got)
	}
	derived := 0
	for _, st := range ours.Steps {
		for _, o := range st.Outputs {
			if o.Derived {
				derived++
			}
		}
	}
	if derived != 37 {
		t.Errorf("%d outputs re-derived during the run, want 37", derived)
	}
	// Upstream's answers, read from the tree (the chain pins the same values).
	answers, err := os.Open(filepath.Join(dir, "amd64.answers"))
	if err != nil {
		t.Fatal(err)
	}
	defer answers.Close()
	results, err := verify.CheckList(dir, answers)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 19 {
		t.Errorf("amd64.answers lists %d files, want 19", len(results))
	}
	for _, r := range results {
		if !r.OK {
			t.Errorf("amd64.answers: %s: sha256 %s, expected %s", r.Path, r.SHA256, r.Expected)
		}
	}
	// The twins against the run's tree: what rests on the compilers' output too.
	d, err := Derive(context.Background(), DeriveOptions{Chain: c, Sources: map[string]string{"stage0-posix": tree}, CacheDir: e.cache, WorkDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Report.OK || len(d.Derived) != 37 || len(d.Underived) != 7 {
		t.Errorf("derive --work: %d derived, %d not, ok %v: %s", len(d.Derived), len(d.Underived), d.Report.OK, d.Report.Error)
	}

	// A second seed set: upstream's own AMD64 seeds.
	seeds := filepath.Join(tree, "bootstrap-seeds", "POSIX", "AMD64")
	if fi, err := os.Stat(seeds); err != nil || !fi.IsDir() {
		t.Skipf("no upstream seeds at %s (BOOTCHAIN_STAGE0_POSIX is an archive, not a tree?)", seeds)
	}
	theirs, theirsDir := run(seeds)
	for _, s := range c.Seeds {
		if theirs.Seeds[s.Name] == ours.Seeds[s.Name] {
			t.Errorf("seed %s: the same in both runs (%s): not a second seed set", s.Name, ours.Seeds[s.Name])
		}
	}
	ta, tb := treeHashes(t, dir), treeHashes(t, theirsDir)
	diff := 0
	for p, h := range ta {
		if p == c.Seeds[0].Path || p == c.Seeds[1].Path {
			continue
		}
		if tb[p] != h {
			diff++
			t.Errorf("tree: %s: %s with our seeds, %q with upstream's", p, h, tb[p])
		}
	}
	if len(ta) != len(tb) {
		t.Errorf("tree: %d files with our seeds, %d with upstream's", len(ta), len(tb))
	}
	t.Logf("trees: %d files, %d differ besides the 2 seeds", len(ta), diff)
}

// TestQEMUAMD64Upstream runs the real amd64 chain in one QEMU guest (8
// minutes under TCG on a loaded machine here) whose init is the AMD64 kaem
// seed, and requires the same hash for every output as the sandbox, which
// is the pin.
//
//	BOOTCHAIN_STAGE0_POSIX=/path/to/stage0-posix-1.9.1 go test ./engine -run QEMUAMD64 -timeout 30m -v
func TestQEMUAMD64Upstream(t *testing.T) {
	tree := stage0Tree(t, "run the amd64 chain under QEMU (several minutes)")
	needQEMU(t)
	c := load(t, "amd64")
	e := newEnv(t)
	o := e.qemuOpts(c)
	o.Sources = map[string]string{"stage0-posix": tree}
	o.Backend.(*qemu.Backend).IdleTimeout = 10 * time.Minute
	start := time.Now()
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, st := range rep.Steps {
		if st.Status != verify.StatusOK {
			t.Errorf("step %s: %s", st.Name, st.Status)
		}
		for _, out := range st.Outputs {
			if !out.OK || out.SHA256 != c.Steps[c.StepIndex(st.Name)].Outputs[out.Path] {
				t.Errorf("step %s: %s: %s, pinned %s", st.Name, out.Path, out.SHA256, out.Expected)
			}
			n++
		}
	}
	if n != 73 {
		t.Errorf("%d outputs verified, want 73", n)
	}
	t.Logf("amd64 chain under qemu: %d outputs verified in %v", n, time.Since(start).Round(time.Second))
}
