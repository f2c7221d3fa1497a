package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/bootchain/bootchain/qemu"
)

// qemuAvailable says why a guest cannot boot here, or nil.
func qemuAvailable() error {
	if _, err := qemu.FindQEMU(""); err != nil {
		return err
	}
	_, err := qemu.FindKernel("")
	return err
}

// cmdQEMUProc is the testscript command qemuproc: `qemuproc` waits until
// a QEMU started by this script runs (its command line names a file under
// $WORK); `! qemuproc` waits until none does, and fails if one is still
// there after ten seconds.
func cmdQEMUProc(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 0 {
		ts.Fatalf("usage: [!] qemuproc")
	}
	work := ts.Getenv("WORK")
	limit := 60 * time.Second
	if neg {
		limit = 10 * time.Second
	}
	deadline := time.Now().Add(limit)
	for {
		pids := qemuProcs(work)
		if (len(pids) > 0) != neg {
			return
		}
		if time.Now().After(deadline) {
			if neg {
				ts.Fatalf("QEMU still running after %v: pid %s", limit, strings.Join(pids, ", "))
			}
			ts.Fatalf("no QEMU started within %v", limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// qemuProcs returns the pids of the qemu-system processes whose command
// line mentions a path under work (work + "/": another script's work
// directory, such as script-run-qemu-tampered beside script-run-qemu,
// does not count).
func qemuProcs(work string) []string {
	ents, _ := os.ReadDir("/proc")
	var pids []string
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		argv := bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0})
		if strings.HasPrefix(filepath.Base(string(argv[0])), "qemu-system") && bytes.Contains(b, []byte(work+"/")) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// TestNoQEMUOnPath: without qemu-system-x86_64 on PATH the qemu backend
// says what to install, in one line, with exit status 1.
func TestNoQEMUOnPath(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	var stdout, stderr bytes.Buffer
	code := Main([]string{"run", "--chain", "../../testdata/chains/fixture", "--backend", "qemu"}, &stdout, &stderr)
	const want = "bootchain: qemu-system-x86_64 not found; apt-get install qemu-system-x86\n"
	if code != 1 || stderr.String() != want || stdout.Len() != 0 {
		t.Errorf("exit %d, stderr %q, stdout %q; want 1 and %q", code, stderr.String(), stdout.String(), want)
	}
}
