package qemu

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
)

func TestAutoAccelFallsBackWithOneLine(t *testing.T) {
	// This emulator prints nothing and exits, so the boot stage of the probe
	// fails even where the vCPU stage passes.
	logger, hook := test.NewNullLogger()
	qemu := fakeQEMU(t, "exit 0")
	kernel := fakeKernel(t)
	for range 2 { // the verdict is remembered: one line per process
		vm, err := Start(context.Background(), WithQEMU(qemu), WithKernel(kernel), WithLogger(logger))
		if err != nil {
			t.Fatal(err)
		}
		_ = vm.Wait()
		if vm.Accel() != AccelTCG {
			t.Fatalf("accel = %s, want tcg", vm.Accel())
		}
	}
	var warns []string
	for _, e := range hook.AllEntries() {
		if e.Level <= logrus.WarnLevel {
			warns = append(warns, e.Message+" "+fmt.Sprint(e.Data["reason"]))
		}
	}
	if len(warns) != 1 || !strings.HasPrefix(warns[0], "KVM unusable, using TCG (slower) kvm ") {
		t.Fatalf("warnings = %q, want one line saying KVM is unusable and why", warns)
	}
}

func TestProbeKVM(t *testing.T) {
	needQEMU(t)
	t.Parallel()
	qemu, _ := FindQEMU("")
	kernel, _ := FindKernel("")
	start := time.Now()
	err := ProbeKVM(context.Background(), qemu, kernel, DefaultKVMProbeTimeout)
	t.Logf("KVM probe took %.1fs: %v", time.Since(start).Seconds(), err)
	if err != nil && !strings.HasPrefix(err.Error(), "kvm vcpu: ") && !strings.HasPrefix(err.Error(), "kvm boot: ") {
		t.Fatalf("ProbeKVM = %v, want an error naming the failed stage", err)
	}
	if err == nil {
		return
	}
	if _, serr := os.Stat("/dev/kvm"); serr != nil && !strings.Contains(err.Error(), "/dev/kvm") {
		t.Errorf("without /dev/kvm the error should say so: %v", err)
	}
}

func TestPVHKernel(t *testing.T) {
	kernel, err := FindKernel("")
	if err != nil {
		t.Skipf("no kernel to unpack: %v", err)
	}
	dir := t.TempDir()
	p, err := pvhKernel(kernel, dir)
	if errors.Is(err, errNoPVH) {
		t.Skipf("this kernel boots compressed: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(p)
	if err != nil {
		t.Fatalf("unpacked kernel: %v", err)
	}
	f.Close()
	if f.Machine != elf.EM_X86_64 {
		t.Errorf("unpacked kernel is for %v, want x86-64", f.Machine)
	}
	again, err := pvhKernel(kernel, dir)
	if err != nil || again != p {
		t.Errorf("second unpack = %s, %v; want the cached %s", again, err, p)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("cache holds %d files, want 1 (no temporary left)", len(entries))
	}
}

func TestBzPayloadRejects(t *testing.T) {
	img := make([]byte, 0x1000)
	if _, err := bzPayload(img); !errors.Is(err, errNoPVH) || !strings.Contains(err.Error(), "not a bzImage") {
		t.Errorf("bzPayload(zeros) = %v", err)
	}
	copy(img[0x202:], "HdrS")
	img[0x206], img[0x207] = 0x06, 0x02
	if _, err := bzPayload(img); !errors.Is(err, errNoPVH) || !strings.Contains(err.Error(), "boot protocol 0x206") {
		t.Errorf("bzPayload(old protocol) = %v", err)
	}
	img[0x206] = 0x0f
	img[0x24C] = 0xff
	img[0x24D] = 0xff
	if _, err := bzPayload(img); !errors.Is(err, errNoPVH) || !strings.Contains(err.Error(), "outside") {
		t.Errorf("bzPayload(payload past the end) = %v", err)
	}
	var out bytes.Buffer
	if err := decompress([]byte("LZ4?"), &out); !errors.Is(err, errNoPVH) {
		t.Errorf("decompress(unknown) = %v", err)
	}
}

// TestKilledHostLeavesNoQEMU kills a process that started a VM with SIGKILL,
// which it cannot catch, and checks that the emulator died with it.
func TestKilledHostLeavesNoQEMU(t *testing.T) {
	if os.Getenv("BOOTCHAIN_QEMU_HELPER") != "" {
		vm, err := Start(context.Background(), WithQEMU(os.Getenv("BOOTCHAIN_QEMU_HELPER")), WithKernel(os.Getenv("BOOTCHAIN_QEMU_KERNEL")), WithAccel(AccelTCG), WithUnpackKernel(false))
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("started", vm.cmd.Process.Pid)
		select {}
	}
	qemu := fakeQEMU(t, "exec sleep 300")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledHostLeavesNoQEMU$")
	cmd.Env = append(os.Environ(), "BOOTCHAIN_QEMU_HELPER="+qemu, "BOOTCHAIN_QEMU_KERNEL="+fakeKernel(t))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Fscanf(out, "started %d\n", &pid); err != nil {
		t.Fatalf("helper did not start a VM: %v", err)
	}
	alive := func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		// A zombie waiting for init to reap it is dead enough.
		return err == nil && !strings.Contains(string(b), ") Z ")
	}
	if !alive() {
		t.Fatalf("the emulator (pid %d) is not running", pid)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	for start := time.Now(); alive(); time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("emulator pid %d outlived its killed parent", pid)
		}
	}
}
