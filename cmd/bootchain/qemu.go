package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/bootchain/bootchain/builderhex0"
	"github.com/bootchain/bootchain/engine"
	"github.com/bootchain/bootchain/qemu"
)

// qemuFlags are the flags of `bootchain run` that configure the qemu
// backend.
type qemuFlags struct {
	qemu, kernel, accel *string
	memory, cpus        *int
	console             *bool
	idle                *time.Duration
}

func addQEMUFlags(fs *flag.FlagSet) *qemuFlags {
	return &qemuFlags{
		qemu:    fs.String("qemu", "", "qemu backend: the emulator `PROGRAM` (default "+qemu.QEMUBinary+" from PATH)"),
		kernel:  fs.String("kernel", "", "qemu backend: the kernel `FILE` to boot (default the newest /boot/vmlinuz-*); builder-hex0 backend: builder-hex0 (upstream's, from its pinned source, the default) or bootchain (bootchain's own, embedded)"),
		accel:   fs.String("accel", string(qemu.AccelAuto), "qemu backend: the acceleration `MODE`, auto (probe KVM, else TCG), kvm or tcg"),
		memory:  fs.Int("memory", qemu.DefaultMemoryMiB, "qemu backend: guest memory in `MIB`"),
		cpus:    fs.Int("cpus", qemu.DefaultCPUs, "qemu backend: `N` virtual CPUs"),
		console: fs.Bool("console", false, "qemu backend: copy the guest console to stderr"),
		idle:    fs.Duration("idle-timeout", qemu.DefaultIdleTimeout, "qemu backend: stop a guest silent on the serial ports, with QEMU not computing, for this `DURATION` (0: never)"),
	}
}

// apply configures b from the flags; console receives the guest console
// when --console is set. Setting a qemu flag for another backend is a
// usage error.
func (q *qemuFlags) apply(fs *flag.FlagSet, b engine.Backend, console io.Writer) error {
	var set []string
	fs.Visit(func(f *flag.Flag) {
		if strings.HasPrefix(f.Usage, "qemu backend:") {
			set = append(set, "--"+f.Name)
		}
	})
	if bh, ok := b.(*builderhex0.Backend); ok {
		return q.applyBuilderHex0(fs, bh, console)
	}
	qb, ok := b.(*qemu.Backend)
	if !ok {
		if len(set) > 0 {
			return usagef("%s: %s needs --backend qemu", fs.Name(), strings.Join(set, ", "))
		}
		return nil
	}
	switch a := qemu.Accel(*q.accel); a {
	case qemu.AccelAuto, qemu.AccelKVM, qemu.AccelTCG:
		qb.Accel = a
	default:
		return usagef("%s: --accel %s: expected auto, kvm or tcg", fs.Name(), *q.accel)
	}
	if *q.memory < 64 {
		return usagef("%s: --memory %d: expected at least 64 (MiB)", fs.Name(), *q.memory)
	}
	if *q.cpus < 1 {
		return usagef("%s: --cpus %d: expected at least 1", fs.Name(), *q.cpus)
	}
	if *q.idle < 0 {
		return usagef("%s: --idle-timeout %v: expected a duration of 0 or more", fs.Name(), *q.idle)
	}
	qb.QEMU, qb.Kernel, qb.MemoryMiB, qb.CPUs = *q.qemu, *q.kernel, *q.memory, *q.cpus
	qb.IdleTimeout = *q.idle
	if qb.IdleTimeout == 0 {
		qb.IdleTimeout = -1 // never
	}
	if *q.console {
		qb.Console = console
	}
	return nil
}

// applyBuilderHex0 configures the builder-hex0 backend from the qemu
// flags it shares: --qemu, --accel, --memory, --console, --idle-timeout,
// and --kernel, which names the hex0 kernel (builderhex0.KernelNames)
// instead of a file. It boots one CPU, so --cpus is a usage error.
func (q *qemuFlags) applyBuilderHex0(fs *flag.FlagSet, b *builderhex0.Backend, console io.Writer) error {
	var bad []string
	memSet, idleSet := false, false
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "cpus":
			bad = append(bad, "--"+f.Name)
		case "memory":
			memSet = true
		case "idle-timeout":
			idleSet = true
		}
	})
	if len(bad) > 0 {
		return usagef("%s: %s: the builder-hex0 backend boots one CPU", fs.Name(), strings.Join(bad, ", "))
	}
	if !slices.Contains(append([]string{""}, builderhex0.KernelNames...), *q.kernel) {
		return usagef("%s: --kernel %s: the builder-hex0 backend boots a kernel written in hex0: expected %s", fs.Name(), *q.kernel, strings.Join(builderhex0.KernelNames, " or "))
	}
	b.KernelName = *q.kernel
	switch a := qemu.Accel(*q.accel); a {
	case qemu.AccelAuto, qemu.AccelKVM, qemu.AccelTCG:
		b.Accel = a
	default:
		return usagef("%s: --accel %s: expected auto, kvm or tcg", fs.Name(), *q.accel)
	}
	if memSet {
		if *q.memory < builderhex0.MinMemoryMiB {
			return usagef("%s: --memory %d: builder-hex0 needs at least %d (MiB): its memory map reaches 3 GiB", fs.Name(), *q.memory, builderhex0.MinMemoryMiB)
		}
		b.MemoryMiB = *q.memory
	}
	if *q.idle < 0 {
		return usagef("%s: --idle-timeout %v: expected a duration of 0 or more", fs.Name(), *q.idle)
	}
	b.QEMU = *q.qemu
	if idleSet {
		b.IdleTimeout = *q.idle
		if b.IdleTimeout == 0 {
			b.IdleTimeout = -1 // never
		}
	}
	if *q.console {
		b.Console = console
	}
	return nil
}

// newBackend returns the backend called name: the sandbox, a QEMU guest
// (package qemu) or builder-hex0 (package builderhex0).
func newBackend(name string) (engine.Backend, error) {
	if name == builderhex0.BackendName {
		return &builderhex0.Backend{}, nil
	}
	switch name {
	case "", "sandbox":
		return engine.SandboxBackend{}, nil
	case "qemu":
		return &qemu.Backend{}, nil
	}
	return nil, fmt.Errorf("backend %q: expected one of: sandbox, qemu, %s", name, builderhex0.BackendName)
}
