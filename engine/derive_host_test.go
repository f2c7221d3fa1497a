package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/verify"
)

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// levelsChain writes a chain whose derive step's script mixes the hex0
// twin with a program that has none (./cc): out/a follows from the pinned
// source alone, out/x is cc's, and out/y is hex0 applied to out/x.
func levelsChain(t *testing.T) *chain.Chain {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"chain": `chain levels
describe derive levels
arch x86
seed hex0-seed seeds/hex0-seed
seed kaem-optional-seed seeds/kaem-optional-seed

source s
    version 1
    local src
    files src.sha256

step make
    run ./seeds/kaem-optional-seed make.kaem
    uses s
    outputs make.sha256
    derive

step after
    run ./seeds/hex0-seed out/y out/z
    outputs after.sha256
    derive
`,
		"src/make.kaem": "./seeds/hex0-seed a.hex0 out/a\n./cc a.hex0 out/x # no twin\n./seeds/hex0-seed out/x out/y\n",
		"src/a.hex0":    "48 49 # HI\n",
		"make.sha256":   sum("HI") + "  out/a\n" + sum("41 42\n") + "  out/x\n" + sum("AB") + "  out/y\n",
		"after.sha256":  sum("\xab") + "  out/z\n",
	}
	files["src.sha256"] = sum(files["src/make.kaem"]) + "  make.kaem\n" + sum(files["src/a.hex0"]) + "  a.hex0\n"
	for p, s := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return load(t, dir)
}

func outputsOf(d *Derivation) map[string]DerivedOutput {
	m := map[string]DerivedOutput{}
	for _, o := range d.Derived {
		m[o.Path] = o
	}
	return m
}

// TestDeriveLevels: without a run, only what follows from the pinned
// sources is derived, and the rest says why; with a run's tree, what rests
// on the program without a twin is derived from its checked output, and
// every derived file is compared with the run's.
func TestDeriveLevels(t *testing.T) {
	c := levelsChain(t)
	ctx := context.Background()
	cache := t.TempDir()

	d, err := Derive(ctx, DeriveOptions{Chain: c, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	got := outputsOf(d)
	if len(got) != 1 || got["out/a"].SHA256 != sum("HI") || len(got["out/a"].Given) != 0 || !got["out/a"].OK() || got["out/a"].Compared {
		t.Errorf("derived %+v, want out/a alone", d.Derived)
	}
	want := []Underived{
		{"make", "out/x", "written by ./cc, which has no Go twin"},
		{"make", "out/y", "needs out/x, an output of ./cc, which has no Go twin (--work DIR takes it from a run)"},
		{"after", "out/z", "needs out/x, an output of ./cc, which has no Go twin (--work DIR takes it from a run)"},
	}
	if !reflect.DeepEqual(d.Underived, want) {
		t.Errorf("underived:\n%q\nwant\n%q", d.Underived, want)
	}
	if !d.Report.OK || d.Report.Backend != "derive" || len(d.Report.Steps) != 2 || len(d.Report.Steps[0].Outputs) != 1 || !d.Report.Steps[0].Outputs[0].Derived {
		t.Errorf("report %+v", d.Report)
	}

	// A run's tree with cc's output as pinned.
	work := t.TempDir()
	for p, s := range map[string]string{"out/a": "HI", "out/x": "41 42\n", "out/y": "AB", "out/z": "\xab"} {
		os.MkdirAll(filepath.Join(work, "out"), 0o755)
		os.WriteFile(filepath.Join(work, p), []byte(s), 0o644)
	}
	d, err = Derive(ctx, DeriveOptions{Chain: c, CacheDir: cache, WorkDir: work})
	if err != nil {
		t.Fatal(err)
	}
	got = outputsOf(d)
	if len(got) != 3 || len(d.Underived) != 1 || d.Underived[0].Path != "out/x" {
		t.Fatalf("with a run: derived %+v, underived %+v", d.Derived, d.Underived)
	}
	for p, given := range map[string][]string{"out/a": nil, "out/y": {"out/x"}, "out/z": {"out/x"}} {
		o := got[p]
		if !reflect.DeepEqual(o.Given, given) || !o.OK() || !o.Compared || o.Run != o.Pin {
			t.Errorf("%s: %+v, want given %q and equal to the run", p, o, given)
		}
	}
	if !d.Report.OK {
		t.Errorf("report not ok: %s", d.Report.Error)
	}

	// The run's out/a differs: reported, not derived around.
	os.WriteFile(filepath.Join(work, "out/a"), []byte("HO"), 0o644)
	d, err = Derive(ctx, DeriveOptions{Chain: c, CacheDir: cache, WorkDir: work})
	if err != nil {
		t.Fatal(err)
	}
	if o := outputsOf(d)["out/a"]; o.OK() || o.SHA256 != sum("HI") || o.Run != sum("HO") {
		t.Errorf("out/a with a forged run copy: %+v", o)
	}
	wantErr := "step make: out/a: the Go twins derive the pinned sha256 " + sum("HI") + ", but the run's tree " + work + " has sha256 " + sum("HO")
	if d.Report.OK || d.Report.Error != wantErr || d.Report.Steps[0].Status != verify.StatusFailed {
		t.Errorf("report: ok %v, error %q\nwant %q", d.Report.OK, d.Report.Error, wantErr)
	}

	// cc's output in the run differs from its pin: nothing rests on it.
	os.WriteFile(filepath.Join(work, "out/x"), []byte("41 43\n"), 0o644)
	d, err = Derive(ctx, DeriveOptions{Chain: c, CacheDir: cache, WorkDir: work})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := outputsOf(d)["out/y"]; ok || len(d.Underived) != 2 || !strings.Contains(d.Underived[1].Reason, "needs out/x, whose copy in the run's tree "+work+" has sha256 "+sum("41 43\n")+", not its pin") {
		t.Errorf("with a forged compiler output: %+v", d.Underived)
	}
	// The next step takes the run's out/y, which matches its pin, and says so.
	if o := outputsOf(d)["out/z"]; !o.OK() || !reflect.DeepEqual(o.Given, []string{"out/y"}) {
		t.Errorf("out/z: %+v, want derived given the run's out/y", o)
	}

	// The plan says the same without reading anything but the script.
	plan, err := PlanDerived(ctx, c, nil, cache)
	if err != nil {
		t.Fatal(err)
	}
	wantPlan := []map[string][]string{{"out/a": {}, "out/y": {"out/x"}}, {"out/z": {"out/x"}}}
	if !reflect.DeepEqual(plan, wantPlan) {
		t.Errorf("plan %q, want %q", plan, wantPlan)
	}
}

// TestDeriveFixtureHost: the fixture's every derive-step output follows
// from the pinned sources, and equals its pin; the plan agrees.
func TestDeriveFixtureHost(t *testing.T) {
	c := load(t, fixtureDir)
	cache := t.TempDir()
	d, err := Derive(context.Background(), DeriveOptions{Chain: c, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, st := range c.Steps {
		if !st.Derive {
			continue
		}
		for p, pin := range st.Outputs {
			n++
			rs := d.Report.Steps[i].Outputs
			found := false
			for _, r := range rs {
				if r.Path == p {
					found = r.OK && r.Derived && r.SHA256 == pin && r.Expected == pin
				}
			}
			if !found {
				t.Errorf("step %s: %s not derived to its pin: %+v", st.Name, p, rs)
			}
		}
	}
	if len(d.Derived) != n || len(d.Underived) != 0 || !d.Report.OK {
		t.Errorf("derived %d of %d, underived %+v, ok %v", len(d.Derived), n, d.Underived, d.Report.OK)
	}
	plan, err := PlanDerived(context.Background(), c, nil, cache)
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range c.Steps {
		if st.Derive != (plan[i] != nil) || (st.Derive && len(plan[i]) != len(st.Outputs)) {
			t.Errorf("step %s: plan %v", st.Name, plan[i])
		}
	}
}

// TestDeriveMissingSource: a remote source that is neither supplied nor
// cached is an error that says so; the plan just knows less.
func TestDeriveMissingSource(t *testing.T) {
	c := load(t, "x86")
	cache := t.TempDir()
	_, err := Derive(context.Background(), DeriveOptions{Chain: c, CacheDir: cache})
	if err == nil || !strings.Contains(err.Error(), "stage0-posix") {
		t.Errorf("error %v, want one naming the missing source", err)
	}
	plan, err := PlanDerived(context.Background(), c, nil, cache)
	if err == nil || len(plan) != len(c.Steps) || plan[0] != nil {
		t.Errorf("plan %v, %v", plan, err)
	}
}
