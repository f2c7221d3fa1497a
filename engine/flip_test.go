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
