package qemu

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/bootchain/bootchain/chain"
)

// BootEnv is what the engine gives a backend that runs a whole chain in
// one boot (engine.BootBackend) for that boot.
type BootEnv struct {
	Event func(Event) error // each step's events, in order, from one goroutine
	// Console receives the guest console as text; lines between a step's
	// begin and end events go to its log.
	Console  io.Writer
	Log      logrus.FieldLogger
	CacheDir string // the run's cache (sources, kernels, probes)
	// Record notes what the guest ran with, for the report: the
	// accelerator, and the kernel image's path when there is one.
	Record func(accel Accel, kernel string)
}

// Backend is the qemu backend (engine.BootBackend): it runs a chain in a
// QEMU guest whose only userland is the seeds. Booting costs seconds, so
// engine.Run does not call RunStep for it: the whole run, up to
// Options.Until, happens in one boot. The
// guest's root holds the seeds and the pinned files of every source the run
// uses, from the start; each step's declared outputs travel to the host over
// the serial data channel as soon as the step ends, where they are hashed
// and held against their pins, and the first mismatch stops the VM. The
// received files are placed in the run's tree (for --work and the Go
// twins); a step the guest cannot report on (undeclared files, re-hashed
// inputs) is reported without those lists.
//
// A QEMU run never writes to the step store: the guest sends bytes, not
// permission bits, so a stored entry would carry guessed modes. It reads
// from it only for a run --from (engine/from.go): the steps before that are
// placed from the store on the host, re-hashed, and the guest checks every
// file of its root once more itself before the first step
// (engine/guestcheck.go); otherwise its point is to build every byte from the
// seeds in the guest. The
// files it places in the tree are 0755 when they are ELF executables, else
// 0644.
type Backend struct {
	QEMU        string        // emulator; empty: qemu-system-x86_64 from PATH
	Kernel      string        // kernel image; empty: the newest /boot/vmlinuz-*
	MemoryMiB   int           // 0: DefaultMemoryMiB
	CPUs        int           // 0: DefaultCPUs
	IdleTimeout time.Duration // 0: DefaultIdleTimeout; negative: never
	Accel       Accel         // empty: probe KVM, fall back to TCG
	// Console, when set, receives the guest console as text (kernel
	// messages, the kaem seed's echo of each command, the steps' output),
	// in whole lines.
	Console io.Writer
	// Options are passed to qemu after the ones above (tests).
	Options []Option
}

// Name implements engine.Backend.
func (*Backend) Name() string { return "qemu" }

// RunStep implements engine.Backend. A guest boot per step would cost seconds
// each, so the qemu backend only runs whole chains, through Run.
func (*Backend) RunStep(ctx context.Context, step chain.Step, root string, log io.Writer) error {
	return fmt.Errorf("step %s: the qemu backend runs a whole chain in one guest (engine.Run), not single steps", step.Name)
}

// Boot implements engine.BootBackend: RunSteps with the backend's options.
func (b *Backend) Boot(ctx context.Context, g Guest, env BootEnv) error {
	opts := b.options(env.CacheDir, env.Log, env.Console)
	if env.Record != nil {
		opts = append(opts, WithOnStart(func(vm *VM) { env.Record(vm.Accel(), vm.Kernel()) }))
	}
	_, err := RunSteps(ctx, g, env.Event, opts...)
	return err
}

// UserConsole returns where --console shows the guest console.
func (b *Backend) UserConsole() io.Writer { return b.Console }

func (b *Backend) options(cacheDir string, log logrus.FieldLogger, console io.Writer) []Option {
	o := []Option{WithLogger(log), WithConsole(console)}
	if cacheDir != "" {
		o = append(o, WithKernelCache(filepath.Join(cacheDir, "kernels")))
		o = append(o, WithKVMProbeCache(filepath.Join(cacheDir, "kvm")))
	}
	if b.QEMU != "" {
		o = append(o, WithQEMU(b.QEMU))
	}
	if b.Kernel != "" {
		o = append(o, WithKernel(b.Kernel))
	}
	if b.MemoryMiB != 0 {
		o = append(o, WithMemory(b.MemoryMiB))
	}
	if b.CPUs != 0 {
		o = append(o, WithCPUs(b.CPUs))
	}
	if b.IdleTimeout != 0 {
		o = append(o, WithIdleTimeout(b.IdleTimeout))
	}
	if b.Accel != "" {
		o = append(o, WithAccel(b.Accel))
	}
	return append(o, b.Options...)
}
