package qemu

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Accel selects QEMU's accelerator.
type Accel string

// Accelerators. AccelAuto probes KVM and falls back to TCG.
const (
	AccelAuto Accel = "auto"
	AccelKVM  Accel = "kvm"
	AccelTCG  Accel = "tcg"
)

// DefaultKVMProbeTimeout bounds the QEMU part of the KVM probe. A working
// KVM prints the kernel's first line well within it.
const DefaultKVMProbeTimeout = 5 * time.Second

// ProbeKVM reports whether KVM can really run this kernel, in two stages:
// it creates a VM with the KVM ioctls and runs a vCPU on a one-instruction
// guest (HLT), then boots kernel under qemu with -accel kvm and waits up to
// timeout for the kernel's first console line. The second stage exists
// because nested KVM can pass the first and still hang after the firmware.
// The error says which stage failed and why.
func ProbeKVM(ctx context.Context, qemu, kernel string, timeout time.Duration) error {
	if err := probeVCPU(2 * time.Second); err != nil {
		return fmt.Errorf("kvm vcpu: %w", err)
	}
	if err := probeBoot(ctx, qemu, kernel, timeout); err != nil {
		return fmt.Errorf("kvm boot: %w", err)
	}
	return nil
}

var probeCache struct {
	sync.Mutex
	m map[string]error
}

// probeKVMOnce runs ProbeKVM once per process for a qemu and kernel pair;
// first is true for the call that ran it.
func probeKVMOnce(ctx context.Context, qemu, kernel string, timeout time.Duration) (first bool, err error) {
	probeCache.Lock()
	defer probeCache.Unlock()
	key := qemu + "\x00" + kernel
	if err, ok := probeCache.m[key]; ok {
		return false, err
	}
	err = probeKVM(ctx, qemu, kernel, timeout)
	if ctx.Err() != nil {
		return true, err // interrupted: no verdict to remember
	}
	if probeCache.m == nil {
		probeCache.m = map[string]error{}
	}
	probeCache.m[key] = err
	return true, err
}

// KVM ioctl numbers (linux/kvm.h, x86).
const (
	kvmGetAPIVersion       = 0xAE00
	kvmCreateVM            = 0xAE01
	kvmGetVCPUMmapSize     = 0xAE04
	kvmCreateVCPU          = 0xAE41
	kvmSetUserMemoryRegion = 0x4020AE46
	kvmRun                 = 0xAE80
	kvmGetSregs            = 0x8138AE83 // struct kvm_sregs: 312 bytes
	kvmSetSregs            = 0x4138AE84
	kvmSetRegs             = 0x4090AE82 // struct kvm_regs: 144 bytes
	kvmExitHLT             = 5
)

type kvmMemoryRegion struct {
	slot, flags                    uint32
	guestPhys, size, userspaceAddr uint64
}

func ioctl(fd int, req, arg uintptr) (uintptr, error) {
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
	if e != 0 {
		return r, e
	}
	return r, nil
}

// probeVCPU runs a real-mode guest whose only instruction is HLT and expects
// KVM_RUN to return with KVM_EXIT_HLT.
func probeVCPU(timeout time.Duration) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // a stuck KVM_RUN takes this thread with it
		done <- runHLT()
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		return fmt.Errorf("KVM_RUN did not return within %v", timeout)
	}
}

func runHLT() error {
	kvm, err := unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/kvm: %w", err)
	}
	defer unix.Close(kvm)
	if v, err := ioctl(kvm, kvmGetAPIVersion, 0); err != nil || v != 12 {
		return fmt.Errorf("KVM_GET_API_VERSION = %d, %v; expected 12", v, err)
	}
	vm, err := ioctl(kvm, kvmCreateVM, 0)
	if err != nil {
		return fmt.Errorf("KVM_CREATE_VM: %w", err)
	}
	defer unix.Close(int(vm))
	mem, err := unix.Mmap(-1, 0, 0x10000, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("guest memory: %w", err)
	}
	defer unix.Munmap(mem)
	const entry = 0x1000
	mem[entry] = 0xF4 // hlt
	region := kvmMemoryRegion{size: uint64(len(mem)), userspaceAddr: uint64(uintptr(unsafe.Pointer(&mem[0])))}
	if _, err := ioctl(int(vm), kvmSetUserMemoryRegion, uintptr(unsafe.Pointer(&region))); err != nil {
		return fmt.Errorf("KVM_SET_USER_MEMORY_REGION: %w", err)
	}
	vcpu, err := ioctl(int(vm), kvmCreateVCPU, 0)
	if err != nil {
		return fmt.Errorf("KVM_CREATE_VCPU: %w", err)
	}
	defer unix.Close(int(vcpu))
	size, err := ioctl(kvm, kvmGetVCPUMmapSize, 0)
	if err != nil {
		return fmt.Errorf("KVM_GET_VCPU_MMAP_SIZE: %w", err)
	}
	run, err := unix.Mmap(int(vcpu), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap kvm_run: %w", err)
	}
	defer unix.Munmap(run)
	var sregs [312]byte
	if _, err := ioctl(int(vcpu), kvmGetSregs, uintptr(unsafe.Pointer(&sregs[0]))); err != nil {
		return fmt.Errorf("KVM_GET_SREGS: %w", err)
	}
	// CS is the first kvm_segment: base (u64) at 0, selector (u16) at 16.
	*(*uint64)(unsafe.Pointer(&sregs[0])) = 0
	*(*uint16)(unsafe.Pointer(&sregs[16])) = 0
	if _, err := ioctl(int(vcpu), kvmSetSregs, uintptr(unsafe.Pointer(&sregs[0]))); err != nil {
		return fmt.Errorf("KVM_SET_SREGS: %w", err)
	}
	var regs [18]uint64 // rax..r15, rip, rflags
	regs[16] = entry
	regs[17] = 2 // the always-set bit of RFLAGS
	if _, err := ioctl(int(vcpu), kvmSetRegs, uintptr(unsafe.Pointer(&regs[0]))); err != nil {
		return fmt.Errorf("KVM_SET_REGS: %w", err)
	}
	if _, err := ioctl(int(vcpu), kvmRun, 0); err != nil {
		return fmt.Errorf("KVM_RUN: %w", err)
	}
	if reason := *(*uint32)(unsafe.Pointer(&run[8])); reason != kvmExitHLT {
		return fmt.Errorf("KVM_RUN exit reason %d, expected %d (HLT)", reason, kvmExitHLT)
	}
	return nil
}

// probeBoot boots kernel under KVM with no initramfs and waits for its first
// console line.
func probeBoot(ctx context.Context, qemu, kernel string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.Command(qemu, "-accel", "kvm", "-nographic", "-monitor", "none", "-nodefaults",
		"-no-user-config", "-no-reboot", "-m", "128", "-kernel", kernel,
		"-append", "console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1", "-serial", "stdio")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr tailBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	seen := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Linux version") {
				seen <- true
				return
			}
		}
		seen <- false
	}()
	var result error
	select {
	case ok := <-seen:
		if !ok {
			result = errors.New("qemu -accel kvm stopped before the kernel printed anything")
			if l := stderr.lastLine(); l != "" {
				result = fmt.Errorf("%w: %s", result, l)
			}
		}
	case <-ctx.Done():
		result = fmt.Errorf("kernel printed nothing within %v under qemu -accel kvm", timeout)
		if errors.Is(ctx.Err(), context.Canceled) {
			result = ctx.Err()
		}
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Wait()
	return result
}
