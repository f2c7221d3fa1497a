package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/verify"
)

// TestX86Upstream runs the embedded x86 chain on a real stage0-posix 1.9.1
// tree (about ten minutes on two cores) and checks upstream's own answers
// in the tree it leaves. Set BOOTCHAIN_STAGE0_POSIX to the tree (a
// checkout with submodules, or the release archive) to run it.
// stage0Status is the x86 chain's status line when a run stops after full.
const stage0Status = "seed=ok mini=ok full=ok mes-m2=skipped mes=skipped mes-libc=skipped mes-hello=skipped"

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
	if got, want := stepStatus(rep), stage0Status; got != want {
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
	if got, want := stepStatus(rep), "seed=ok(cached) mini=ok(cached) full=ok(cached) mes-m2=skipped mes=skipped mes-libc=skipped mes-hello=skipped"; got != want {
		t.Errorf("second run: %s, want %s", got, want)
	}
}
