package engine

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

// flippedCopy writes a copy of a source's pinned files into a new
// directory, reading each from pathOf(p), with one byte of the file flip
// changed. It returns the directory and the changed file's SHA-256.
func flippedCopy(t *testing.T, files map[string]string, pathOf func(p string) string, flip string) (dir, actual string) {
	t.Helper()
	dir = t.TempDir()
	for p := range files {
		b, err := os.ReadFile(pathOf(p))
		if err != nil {
			t.Fatal(err)
		}
		if p == flip {
			b[len(b)/2] ^= 0x20
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	actual, err := verify.File(filepath.Join(dir, filepath.FromSlash(flip)))
	if err != nil {
		t.Fatal(err)
	}
	return dir, actual
}

// runStopsAt runs o and checks that the run stopped at step, naming the
// source's file flip, its pin want and its actual SHA-256, and that no
// later step verified.
func runStopsAt(t *testing.T, c *chain.Chain, o Options, step, src, flip, want, actual string) {
	t.Helper()
	rep, err := Run(context.Background(), o)
	var se *StepError
	var me *verify.MismatchError
	if !errors.As(err, &se) || se.Step != step || !errors.As(err, &me) || me.Path != flip || me.Expected != want || me.Actual != actual {
		t.Fatalf("run with one byte of %s %s changed: %v; want it to stop at step %s naming the file, expected %s, actual %s", src, flip, err, step, want, actual)
	}
	for _, st := range rep.Steps {
		if st.Name == step && st.Status != verify.StatusFailed {
			t.Errorf("step %s: %s, want %s", st.Name, st.Status, verify.StatusFailed)
		}
		if c.StepIndex(st.Name) > c.StepIndex(step) && st.Status == verify.StatusOK {
			t.Errorf("step %s ran after %s failed", st.Name, step)
		}
	}
	if !strings.Contains(err.Error(), "step "+step+": source "+src+": "+flip+": sha256 is "+actual+", expected "+want) {
		t.Errorf("message %q", err)
	}
}

// upstreamSource is a source of the x86 chain for a test on real
// upstream trees: the variable naming a tree of it, the step that first
// reads it and a file of it to change one byte of.
type upstreamSource struct{ env, source, step, flip string }

// upstreamTrees returns the trees the variables of list name, by source,
// skipping the test, with how says how to make the tree, when one is unset.
func upstreamTrees(t *testing.T, list []upstreamSource, how string) map[string]string {
	t.Helper()
	sources := map[string]string{}
	for _, s := range list {
		dir := os.Getenv(s.env)
		if dir == "" {
			t.Skipf("set %s to a tree of source %s (%s)", s.env, s.source, how)
		}
		sources[s.source] = dir
	}
	return sources
}

// runFresh loads chain x86 and runs its steps from to until afresh on
// sources, starting from cache; every step before from must be placed
// from the cache, and the n steps from to until run and verified. It
// returns the chain and the options of the run (its WorkDir holds the tree).
func runFresh(t *testing.T, cache string, sources map[string]string, from, until string, n int) (*chain.Chain, Options) {
	t.Helper()
	needSandbox(t)
	c, err := chain.Load("x86")
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Chain: c, CacheDir: cache, TempDir: t.TempDir(), Sources: sources,
		From: from, Until: until, NoCache: true, WorkDir: filepath.Join(t.TempDir(), "w")}
	rep, err := Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	ran := map[string]bool{}
	for _, st := range rep.Steps {
		switch i := c.StepIndex(st.Name); {
		case i < c.StepIndex(from):
			if st.Status != verify.StatusPlaced {
				t.Errorf("step %s: %s, want %s", st.Name, st.Status, verify.StatusPlaced)
			}
		case i <= c.StepIndex(until):
			ran[st.Name] = true
			if st.Status != verify.StatusOK || st.Cached {
				t.Errorf("step %s: %s (cached %v), want it run and verified", st.Name, st.Status, st.Cached)
			}
		}
	}
	if len(ran) != n {
		t.Errorf("ran %d steps from %s to %s, want %d", len(ran), from, until, n)
	}
	return c, o
}

// flipStopsAt runs o again, from its cache, with one byte of s.flip in
// source s.source changed: the run must stop at step s.step, naming the
// file with the expected and the actual SHA-256.
func flipStopsAt(t *testing.T, c *chain.Chain, o Options, s upstreamSource) {
	t.Helper()
	src, _ := c.Source(s.source)
	want, ok := src.Files[s.flip]
	if !ok {
		t.Fatalf("source %s pins no %s", s.source, s.flip)
	}
	// A copy of the pinned files, one byte of one changed.
	changed, actual := flippedCopy(t, src.Files, func(p string) string { return filepath.Join(o.Sources[s.source], filepath.FromSlash(p)) }, s.flip)
	o2 := o
	o2.Sources = map[string]string{}
	for k, v := range o.Sources {
		o2.Sources[k] = v
	}
	o2.Sources[s.source] = changed
	// Not --from: every step before the source's first comes from the
	// cache, and that step opens it.
	o2.From, o2.NoCache, o2.WorkDir = "", false, ""
	runStopsAt(t, c, o2, s.step, s.source, s.flip, want, actual)
}
