package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bootchain/bootchain/initramfs"
	"github.com/bootchain/bootchain/qemu"
	"github.com/bootchain/bootchain/verify"
)

// fillCache runs the fixture chain in the sandbox up to until, filling e's
// store, and returns the report.
func fillCache(t *testing.T, e env, until string) *verify.Report {
	t.Helper()
	needSandbox(t)
	o := e.opts(load(t, fixtureDir))
	o.Until = until
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("filling the cache: %v", err)
	}
	return rep
}

// TestFrom: a run --from places the earlier steps' outputs from the store
// and runs the rest; its outputs are the full run's, and the report says
// which steps were placed and which tree the run started from.
func TestFrom(t *testing.T) {
	e := newEnv(t)
	full := fillCache(t, e, "hello")
	c := load(t, fixtureDir)
	o := e.opts(c)
	o.From, o.Until, o.NoCache = "data", "hello", true
	o.WorkDir = filepath.Join(t.TempDir(), "w")
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stepStatus(rep), "hex0=placed(cached) kaem=placed(cached) data=ok hello=ok again=not requested"; got != want {
		t.Errorf("steps: %s, want %s", got, want)
	}
	for i := range 4 {
		if g, w := pathHashes(rep.Steps[i].Outputs), pathHashes(full.Steps[i].Outputs); !reflect.DeepEqual(g, w) {
			t.Errorf("step %s: outputs %v, want the full run's %v", rep.Steps[i].Name, g, w)
		}
	}
	// The starting tree: the seeds, their sources, hex0's and kaem's
	// outputs and the fixture's source, as the pins say.
	want := map[string]string{}
	for _, s := range full.Steps[:2] {
		for _, o := range s.Outputs {
			want[o.Path] = o.Expected
		}
	}
	seeds, err := seedFiles(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range seeds {
		want[s.path] = s.sha256
	}
	src, _ := c.Source("fixture-src")
	for p, h := range src.Files {
		want[p] = h
	}
	if rep.From != "data" || rep.StartTree != TreeDigest(want) {
		t.Errorf("report: from %q start_tree %s, want data %s", rep.From, rep.StartTree, TreeDigest(want))
	}
	if full.From != "" || full.StartTree != "" {
		t.Errorf("a run from the seeds reports from %q start_tree %q, want neither", full.From, full.StartTree)
	}
	pin := c.Steps[2].Outputs["out/hello"]
	if got := treeHashes(t, o.WorkDir); got["out/hello"] != pin || got["bin/kaem"] == "" {
		t.Errorf("work dir: out/hello %q bin/kaem %q, want %s and the placed kaem", got["out/hello"], got["bin/kaem"], pin)
	}
}

// TestFromNotCached: a step before --from that the store lacks stops the
// run before anything runs, naming the step to run first.
func TestFromNotCached(t *testing.T) {
	for _, tc := range []struct {
		name, filled, missing string
		qemu                  bool
	}{
		{"empty cache", "", "hex0", false},
		{"cache up to kaem", "kaem", "data", false},
		{"qemu, cache up to kaem", "kaem", "data", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.filled != "" {
				fillCache(t, e, tc.filled)
			}
			c := load(t, fixtureDir)
			o := e.opts(c)
			if tc.qemu {
				o = e.qemuOpts(c)
			}
			o.From, o.Until = "hello", "hello"
			rep, err := Run(context.Background(), o)
			var nc *NotCachedError
			if !errors.As(err, &nc) || nc.Step != tc.missing {
				t.Fatalf("err = %v, want step %s not cached", err, tc.missing)
			}
			want := "--from hello: step " + tc.missing + " has no verified outputs in the cache (key "
			if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "`bootchain run --until data`") {
				t.Errorf("message %q, want it to start %q and suggest --until data", err, want)
			}
			if rep.OK || rep.Steps[3].Status != verify.StatusSkipped {
				t.Errorf("report: ok %v, hello %s; want false, skipped", rep.OK, rep.Steps[3].Status)
			}
		})
	}
}

// TestFromFlippedCachedByte: a cached output damaged in the store is
// refused as it is placed, naming the step and the file, on both backends.
func TestFromFlippedCachedByte(t *testing.T) {
	e := newEnv(t)
	fillCache(t, e, "hello")
	c := load(t, fixtureDir)
	pin := c.Steps[c.StepIndex("data")].Outputs["out/hello"]
	flipByte(t, filepath.Join(e.cache, "store", "blobs", pin[:2], pin), 100)
	for _, backend := range []string{"sandbox", "qemu"} {
		t.Run(backend, func(t *testing.T) {
			o := e.opts(c)
			if backend == "qemu" {
				o = e.qemuOpts(c)
			}
			o.From, o.Until = "hello", "hello"
			_, err := Run(context.Background(), o)
			var me *verify.MismatchError
			if !errors.As(err, &me) || me.Step != "data" || me.Path != "out/hello" || me.Expected != pin {
				t.Fatalf("err = %v, want a mismatch of data's out/hello", err)
			}
			if !strings.HasPrefix(err.Error(), "--from hello: step data: out/hello: sha256 is "+me.Actual+", expected "+pin) {
				t.Errorf("message %q", err)
			}
		})
	}
}

// TestFromChecks: --from must name a step the run reaches.
func TestFromChecks(t *testing.T) {
	c := load(t, fixtureDir)
	e := newEnv(t)
	for _, tc := range []struct{ from, until, want string }{
		{"nope", "", "--from nope: chain fixture has no such step"},
		{"hello", "kaem", "--from hello: comes after the run's last step (kaem)"},
		{"again", "", "--from again: the step is in the unverified section; add --unverified"},
	} {
		o := e.opts(c)
		o.From, o.Until = tc.from, tc.until
		_, err := Run(context.Background(), o)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("--from %s --until %s: %v, want %q", tc.from, tc.until, err, tc.want)
		}
	}
}

// TestQEMUFrom: under qemu the guest starts from the placed tree, checks
// every file of it with sha256check before the first step, and reports the
// hashes the sandbox reported.
func TestQEMUFrom(t *testing.T) {
	needQEMU(t)
	e := newEnv(t)
	full := fillCache(t, e, "hello")
	c := load(t, fixtureDir)
	o := e.qemuOpts(c)
	o.From, o.Until = "hello", "hello"
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stepStatus(rep), "hex0=placed(cached) kaem=placed(cached) data=placed(cached) hello=ok again=not requested"; got != want {
		t.Errorf("steps: %s, want %s", got, want)
	}
	for i := range 4 {
		if g, w := pathHashes(rep.Steps[i].Outputs), pathHashes(full.Steps[i].Outputs); !reflect.DeepEqual(g, w) || len(g) == 0 {
			t.Errorf("step %s: outputs %v, want the sandbox's %v", rep.Steps[i].Name, g, w)
		}
	}

	// A file changed in the guest's root after the host checked it: the
	// guest's own check refuses it, naming the file, and no step runs.
	testGuestHook = func(g *qemu.Guest) {
		for i, f := range g.Files {
			if f, ok := f.(initramfs.File); ok && f.Path == "out/hello" {
				f.Data = append([]byte(nil), f.Data...)
				f.Data[100] ^= 1
				g.Files[i] = f
			}
		}
	}
	defer func() { testGuestHook = nil }()
	rep, err = Run(context.Background(), o)
	var me *verify.MismatchError
	if !errors.As(err, &me) || me.Path != "out/hello" || me.Step != "hello" || me.Actual == "" || me.Actual == me.Expected {
		t.Fatalf("err = %v, want the guest's mismatch of out/hello", err)
	}
	if !strings.Contains(err.Error(), "the guest's own check") {
		t.Errorf("message %q does not say the guest found it", err)
	}
	if rep.Steps[3].Status != verify.StatusFailed || len(rep.Steps[3].Outputs) != 0 {
		t.Errorf("step hello: %s with %d outputs, want failed before running", rep.Steps[3].Status, len(rep.Steps[3].Outputs))
	}
}

// TestGuestCheckList: the list the guest checks, and how a difference in
// what it sends back is named.
func TestGuestCheckList(t *testing.T) {
	a, b := strings.Repeat("a", 64), strings.Repeat("b", 64)
	list, err := guestCheckList(map[string]string{"x/y": a, "b": b})
	if err != nil {
		t.Fatal(err)
	}
	if want := b + "  /b\n" + a + "  /x/y\n"; string(list) != want {
		t.Errorf("list %q, want %q", list, want)
	}
	if _, err := guestCheckList(map[string]string{"a b": a}); err == nil {
		t.Error("a path with a blank: no error")
	}
	if err := checkGuestList(list, list); err != nil {
		t.Errorf("equal lists: %v", err)
	}
	bad := []byte(b + "  /b\n" + b + "  /x/y\n")
	var me *verify.MismatchError
	if err := checkGuestList(list, bad); !errors.As(err, &me) || me.Path != "x/y" || me.Actual != b || me.Expected != a {
		t.Errorf("changed line: %v", err)
	}
	if err := checkGuestList(list, list[:len(list)/2]); !errors.As(err, &me) || me.Path != "x/y" {
		t.Errorf("short list: %v", err)
	}
	if m := guestCheckFailure("FAILED /x/y sha256 " + b + " expected " + a); m == nil || m.Path != "x/y" || m.Actual != b || m.Expected != a {
		t.Errorf("FAILED line: %+v", m)
	}
	if m := guestCheckFailure("OK /x/y"); m != nil {
		t.Errorf("OK line: %+v", m)
	}
}

// pathHashes lists results as "path sha256 ok".
func pathHashes(rs []verify.Result) []string {
	var s []string
	for _, r := range rs {
		s = append(s, fmt.Sprintf("%s %s %v", r.Path, r.SHA256, r.OK))
	}
	return s
}
