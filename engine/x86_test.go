package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/verify"
)

// untilStatus is the status line (stepStatus) of a run of c that stops
// after until: each step up to it ok (from the cache when cached), each
// later one not requested. It is derived from the chain, which other
// work keeps growing.
func untilStatus(t *testing.T, c *chain.Chain, until string, cached bool) string {
	t.Helper()
	var s []string
	after := false
	for _, st := range c.Steps {
		switch {
		case after:
			s = append(s, st.Name+"="+verify.StatusNotRequested)
		case cached:
			s = append(s, st.Name+"="+verify.StatusOK+"(cached)")
		default:
			s = append(s, st.Name+"="+verify.StatusOK)
		}
		after = after || st.Name == until
	}
	if !after {
		t.Fatalf("chain %s has no step %s", c.Name, until)
	}
	return strings.Join(s, " ")
}

// TestX86Upstream runs the embedded x86 chain on a real stage0-posix 1.9.1
// tree (about ten minutes on two cores) and checks upstream's own answers
// in the tree it leaves. Set BOOTCHAIN_STAGE0_POSIX to the tree (a
// checkout with submodules, or the release archive) to run it.
func TestX86Upstream(t *testing.T) {
	tree := os.Getenv("BOOTCHAIN_STAGE0_POSIX")
	if tree == "" {
		t.Skip("set BOOTCHAIN_STAGE0_POSIX to a stage0-posix 1.9.1 tree or archive to run the real x86 chain (about 10 minutes)")
	}
	needSandbox(t)
	c, err := chain.Load("x86")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	o := e.opts(c)
	o.Sources = map[string]string{"stage0-posix": tree}
	o.Until = "full" // stage0 only: the Mes steps need the mes and nyacc sources
	o.WorkDir = filepath.Join(t.TempDir(), "w")
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stepStatus(rep), untilStatus(t, c, "full", false); got != want {
		t.Errorf("steps: %s, want %s", got, want)
	}
	// Upstream's answers, read from the tree (the chain pins the same values).
	answers, err := os.Open(filepath.Join(o.WorkDir, "x86.answers"))
	if err != nil {
		t.Fatal(err)
	}
	defer answers.Close()
	results, err := verify.CheckList(o.WorkDir, answers)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 19 {
		t.Errorf("x86.answers lists %d files, want 19", len(results))
	}
	for _, r := range results {
		if !r.OK {
			t.Errorf("x86.answers: %s: sha256 %s, expected %s", r.Path, r.SHA256, r.Expected)
		}
	}
	// Again: every step from the cache.
	rep, err = Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stepStatus(rep), untilStatus(t, c, "full", true); got != want {
		t.Errorf("second run: %s, want %s", got, want)
	}
}
