package qemu

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
)

// countProbes replaces the KVM probe with one that fails and counts its
// calls, and forgets this process's verdicts (as a new process would).
func countProbes(t *testing.T) *int {
	t.Helper()
	n := new(int)
	old := probeKVM
	probeKVM = func(ctx context.Context, qemu, kernel string, timeout time.Duration) error {
		*n++
		return errors.New("kvm boot: kernel printed nothing within 5s under qemu -accel kvm")
	}
	forget := func() {
		probeCache.Lock()
		probeCache.m = nil
		probeCache.Unlock()
	}
	forget()
	t.Cleanup(func() { probeKVM = old; forget() })
	return n
}

// forgetProcess drops this process's verdicts, as a new bootchain process
// starts without them.
func forgetProcess() {
	probeCache.Lock()
	probeCache.m = nil
	probeCache.Unlock()
}

// TestKVMProbeCached: --accel auto probes KVM once per host; later runs
// (new processes) read the verdict from the cache directory, until the
// QEMU binary (or the host kernel, or /dev/kvm) changes.
func TestKVMProbeCached(t *testing.T) {
	probes := countProbes(t)
	qemu := fakeQEMU(t, "exit 0")
	kernel := fakeKernel(t)
	cache := filepath.Join(t.TempDir(), "kvm")
	logger, hook := test.NewNullLogger()
	logger.SetLevel(logrus.InfoLevel)
	start := func() {
		t.Helper()
		forgetProcess()
		vm, err := Start(context.Background(), WithQEMU(qemu), WithKernel(kernel), WithLogger(logger), WithKVMProbeCache(cache), WithUnpackKernel(false))
		if err != nil {
			t.Fatal(err)
		}
		_ = vm.Wait()
		if vm.Accel() != AccelTCG {
			t.Fatalf("accel = %s, want tcg", vm.Accel())
		}
	}
	start()
	if *probes != 1 {
		t.Fatalf("first run: %d probes, want 1", *probes)
	}
	files, _ := filepath.Glob(filepath.Join(cache, "kvm-*.json"))
	if len(files) != 1 {
		t.Fatalf("cache holds %v, want one verdict", files)
	}
	b, _ := os.ReadFile(files[0])
	if !strings.Contains(string(b), `"usable": false`) || !strings.Contains(string(b), "kernel printed nothing") || !strings.Contains(string(b), `"qemu": "`+qemu) {
		t.Errorf("verdict file:\n%s", b)
	}
	for range 2 {
		start()
	}
	if *probes != 1 {
		t.Fatalf("after two more runs: %d probes, want still 1 (read from the cache)", *probes)
	}
	var cachedLines int
	for _, e := range hook.AllEntries() {
		if strings.HasPrefix(e.Message, "KVM unusable on this host (the probe's verdict") {
			cachedLines++
		}
	}
	if cachedLines != 2 {
		t.Errorf("%d log lines naming the cached verdict, want 2", cachedLines)
	}
	// Another QEMU binary (here: the same one, rewritten): probed again.
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(qemu, later, later); err != nil {
		t.Fatal(err)
	}
	start()
	if *probes != 2 {
		t.Errorf("after QEMU changed: %d probes, want 2", *probes)
	}
}

// TestAccelKVMFailsWithWhatToCheck: --accel kvm where the probe fails is
// an error at once, naming the reason and what to check.
func TestAccelKVMFailsWithWhatToCheck(t *testing.T) {
	countProbes(t)
	_, err := Start(context.Background(), WithQEMU(fakeQEMU(t, "exit 0")), WithKernel(fakeKernel(t)), WithAccel(AccelKVM), WithKVMProbeCache(t.TempDir()))
	var ke *KVMError
	if !errors.As(err, &ke) {
		t.Fatalf("err = %v, want a *KVMError", err)
	}
	for _, want := range []string{"--accel kvm: KVM does not work on this host (kvm boot: kernel printed nothing", "/dev/kvm", "lsmod | grep kvm", "nested", "--accel tcg"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %s", want, err)
		}
	}
}
