package builderhex0_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bootchain/bootchain/builderhex0"
	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/engine"
	"github.com/bootchain/bootchain/qemu"
	"github.com/bootchain/bootchain/verify"
)

func fixture(t testing.TB, name string) *chain.Chain {
	t.Helper()
	c, err := chain.Load(filepath.Join("..", "testdata", "chains", name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func opts(t testing.TB, c *chain.Chain, k *builderhex0.Kernel) engine.Options {
	return engine.Options{
		Chain: c, CacheDir: t.TempDir(), TempDir: t.TempDir(),
		Backend: &builderhex0.Backend{Kernel: k, Accel: qemu.AccelTCG, IdleTimeout: time.Minute, TempDir: t.TempDir(), Console: debugConsole()},
	}
}

// TestFixtureChain boots the offline fixture chain on builder-hex0: every
// output must match its pin, as in the sandbox.
func TestFixtureChain(t *testing.T) {
	builderhex0.EachKernel(t, testFixtureChain)
}

func testFixtureChain(t *testing.T, k builderhex0.Kernel) {
	c := fixture(t, "fixture")
	rep, err := engine.Run(context.Background(), opts(t, c, &k))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	n := 0
	for _, st := range rep.Steps {
		if st.Status == verify.StatusNotRequested || st.Status == verify.StatusSkipped {
			continue
		}
		if st.Status != verify.StatusOK {
			t.Errorf("step %s: status %s", st.Name, st.Status)
		}
		for _, o := range st.Outputs {
			n++
			if !o.OK || o.SHA256 != o.Expected {
				t.Errorf("step %s: %s: %s, expected %s", st.Name, o.Path, o.SHA256, o.Expected)
			}
		}
	}
	if n == 0 {
		t.Fatalf("no outputs checked: %s", strings.Join(stepNames(rep), ", "))
	}
	if rep.Backend != builderhex0.BackendName || rep.KernelSHA256 != "" {
		t.Errorf("report: backend %q kernel %q, expected builder-hex0 and no kernel image", rep.Backend, rep.KernelSHA256)
	}
}

func stepNames(rep *verify.Report) []string {
	var s []string
	for _, st := range rep.Steps {
		s = append(s, st.Name+"="+st.Status)
	}
	return s
}

// debugConsole shows the guest console when BOOTCHAIN_TEST_CONSOLE is set.
func debugConsole() io.Writer {
	if os.Getenv("BOOTCHAIN_TEST_CONSOLE") != "" {
		return os.Stderr
	}
	return nil
}

// TestTamperedFixture: fixture-tampered differs from fixture in one source
// file; on builder-hex0 as in the sandbox the run stops at step data,
// naming the output whose hash differs from its pin.
func TestTamperedFixture(t *testing.T) {
	builderhex0.EachKernel(t, testTamperedFixture)
}

func testTamperedFixture(t *testing.T, k builderhex0.Kernel) {
	c := fixture(t, "fixture-tampered")
	rep, err := engine.Run(context.Background(), opts(t, c, &k))
	var se *engine.StepError
	var me *verify.MismatchError
	if !errors.As(err, &se) || se.Step != "data" || !errors.As(err, &me) {
		t.Fatalf("err = %v, expected a mismatch at step data", err)
	}
	if rep.OK || rep.Steps[c.StepIndex("data")].Status != verify.StatusFailed || rep.Steps[c.StepIndex("kaem")].Status != verify.StatusOK {
		t.Errorf("report: %s", strings.Join(stepNames(rep), ", "))
	}
}
