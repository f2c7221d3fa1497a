package builderhex0

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/qemu"
)

// BackendName is the name of the backend (--backend builder-hex0).
const BackendName = "builder-hex0"

// Backend runs a chain on builder-hex0 under QEMU, in one boot
// (engine.BootBackend). Its kernel is upstream's from the pinned
// builder-hex0 source (Source, the --source directory or archive for it,
// else the cache), or bootchain's own (KernelName KernelBootchain).
type Backend struct {
	KernelName  string        // KernelNames; empty: KernelBuilderHex0
	Source      string        // --source builder-hex0=PATH; empty: the cache
	QEMU        string        // emulator; empty: qemu-system-x86_64 from PATH
	Accel       qemu.Accel    // kvm, or tcg (the default)
	MemoryMiB   int           // 0: DefaultMemoryMiB
	IdleTimeout time.Duration // 0: DefaultIdleTimeout; negative: never
	Console     io.Writer     // when set, the guest console as it arrives (--console)
	TempDir     string        // where the disk image is written; empty: the system's
	// Kernel, when set, is used instead of loading the pinned source (tests).
	Kernel *Kernel
}

// Name implements engine.Backend.
func (*Backend) Name() string { return BackendName }

// RunStep implements engine.Backend: the backend only boots whole runs.
func (*Backend) RunStep(ctx context.Context, step chain.Step, root string, log io.Writer) error {
	return fmt.Errorf("step %s: the builder-hex0 backend runs a whole chain in one boot (engine.Run), not single steps", step.Name)
}

// Boot implements engine.BootBackend.
func (b *Backend) Boot(ctx context.Context, g qemu.Guest, env qemu.BootEnv) error {
	k := b.Kernel
	if k == nil {
		kk, err := SelectKernel(ctx, b.KernelName, b.Source, env.CacheDir)
		if err != nil {
			return err
		}
		k = &kk
	}
	cfg := Config{
		QEMU: b.QEMU, Accel: b.Accel, MemoryMiB: b.MemoryMiB, IdleTimeout: b.IdleTimeout,
		TempDir: b.TempDir, Console: env.Console, Raw: b.Console, Log: env.Log,
	}
	if env.Record != nil {
		cfg.OnStart = func(a qemu.Accel) { env.Record(a, "") }
	}
	return Run(ctx, *k, g, cfg, env.Event)
}
