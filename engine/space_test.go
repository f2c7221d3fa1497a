package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/qemu"
	"github.com/bootchain/bootchain/sandbox"
)

// smallTmpfs mounts a tmpfs of size bytes for the test, or skips it.
func smallTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (needs root): %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// fill writes to dir until its file system is full, leaving keep bytes.
func fill(t *testing.T, dir string, keep int64) {
	t.Helper()
	f, err := os.CreateTemp(dir, "filler-")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	free, _ := freeBytes(dir)
	block := make([]byte, 64<<10)
	for free > keep+int64(len(block)) {
		if _, err := f.Write(block); err != nil {
			break
		}
		free, _ = freeBytes(dir)
	}
	f.Sync()
}

// TestNoSpace: a scratch directory too full for a step's root stops the
// run before the step, and one that fills while the step runs fails it,
// both saying where, how much is free and how big the root is; a kept
// root on a tmpfs says how much memory it holds.
func TestNoSpace(t *testing.T) {
	needSandbox(t)
	c := load(t, fixtureDir)
	want := func(t *testing.T, err error, step string) *StepError {
		t.Helper()
		var se *StepError
		var ns *NoSpaceError
		if !errors.As(err, &se) || se.Step != step || !errors.As(err, &ns) {
			t.Fatalf("Run: %v; want step %s to fail with a *NoSpaceError", err, step)
		}
		if !strings.Contains(err.Error(), "no space left in "+ns.Dir+" (") || !strings.Contains(err.Error(), "MB free, the step's root is ") {
			t.Errorf("message %q does not say where, what is free and how big the root is", err)
		}
		return se
	}

	t.Run("before the step", func(t *testing.T) {
		tmp := smallTmpfs(t, 4<<20)
		fill(t, tmp, 256<<10)
		o := newEnv(t).opts(c)
		o.TempDir = tmp
		_, err := Run(context.Background(), o)
		se := want(t, err, "hex0")
		// The scratch directory is gone with its (empty) log: the
		// details name no file that is not there.
		if se.LogFile != "" {
			t.Errorf("details name the log %s of a step that did not run, removed with the scratch directory", se.LogFile)
		}
	})

	t.Run("while the step runs", func(t *testing.T) {
		tmp := smallTmpfs(t, 8<<20)
		o := newEnv(t).opts(c)
		o.TempDir = tmp
		o.Backend = filling{tmp}
		_, err := Run(context.Background(), o)
		se := want(t, err, "hex0")
		var details bytes.Buffer
		se.WriteDetails(&details)
		if se.WorkDir == "" || !strings.Contains(details.String(), "on a tmpfs, in memory; remove it when done") {
			t.Errorf("details do not say the kept root is in memory:\n%s", details.String())
		}
	})
}

// filling fills the scratch file system just before each step runs.
type filling struct{ dir string }

func (filling) Name() string { return "sandbox" }

func (f filling) RunStep(ctx context.Context, st chain.Step, root string, log io.Writer) error {
	fillFS(f.dir)
	return (SandboxBackend{}).RunStep(ctx, st, root, log)
}

func fillFS(dir string) {
	p := filepath.Join(dir, "filler-during")
	b := make([]byte, 64<<10)
	fh, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer fh.Close()
	for {
		if _, err := fh.Write(b); err != nil {
			return
		}
	}
}

func TestMegabytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0.0 MB", 1: "0.1 MB", 300_000: "0.3 MB", 612_345: "0.7 MB", 1_000_000: "1.0 MB",
		9_900_000: "9.9 MB", 9_999_999: "10.0 MB", 10_000_000: "10 MB", 23_400_001: "24 MB",
	} {
		if got := megabytes(n); got != want {
			t.Errorf("megabytes(%d) = %q; expected %q", n, got, want)
		}
	}
}

// TestReportLimits: the report says each limit and how it is enforced
// here, for the sandbox backend only.
func TestReportLimits(t *testing.T) {
	l := reportLimits(SandboxBackend{Limits: sandbox.Limits{Memory: 64 << 20}})
	if l == nil || l.MemoryBytes != 64<<20 || l.RootBytes != sandbox.DefaultLimits.RootSize || l.Pids != sandbox.DefaultLimits.Pids {
		t.Fatalf("reportLimits: %+v; expected 64 MiB of memory and the default root size and pids", l)
	}
	e := sandbox.Enforcement()
	if l.MemoryBy != e.Memory || l.PidsBy != e.Pids || l.MemoryBy == "" || l.PidsBy == "" {
		t.Errorf("reportLimits: memory by %q, pids by %q; expected %q and %q", l.MemoryBy, l.PidsBy, e.Memory, e.Pids)
	}
	if l := reportLimits(&qemu.Backend{}); l != nil {
		t.Errorf("reportLimits(qemu): %+v; expected none", l)
	}
}
