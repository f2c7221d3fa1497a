package builderhex0

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/bootchain/bootchain/hex0"
)

// Kernel names (--kernel with --backend builder-hex0).
const (
	// KernelBuilderHex0 is upstream's builder-hex0, from its pinned
	// source: the default, what real chains are measured on.
	KernelBuilderHex0 = "builder-hex0"
	// KernelBootchain is bootchain's own boot sector and kernel, written
	// for bootchain in commented hex0 (builderhex0/kernel) and embedded in
	// the binary: always at hand, so the backend runs offline and in CI.
	KernelBootchain = "bootchain"
)

// KernelNames lists the kernels the backend boots, the default first.
var KernelNames = []string{KernelBuilderHex0, KernelBootchain}

// The files of bootchain's own kernel: its commented hex0 (generated from
// the .S files beside them by builderhex0/internal/kernelgen, and the
// source a reader audits) and the pinned SHA-256 of what each assembles to.
//
//go:embed kernel/stage1.hex0 kernel/stage2.hex0 kernel/SHA256SUMS
var ownFiles embed.FS

// Files of bootchain's own kernel, in package builderhex0's directory.
const (
	OwnStage1File = "kernel/stage1.hex0"
	OwnStage2File = "kernel/stage2.hex0"
)

// BootchainKernel returns bootchain's own kernel: its boot sector
// assembled from kernel/stage1.hex0 with bootchain's hex0 assembler, and
// the text of kernel/stage2.hex0, which the boot sector assembles at boot.
// Both must assemble to their pins in kernel/SHA256SUMS.
func BootchainKernel() (Kernel, error) {
	pins, err := ownPins()
	if err != nil {
		return Kernel{}, err
	}
	texts := map[string][]byte{}
	for name, file := range map[string]string{"stage1": OwnStage1File, "stage2": OwnStage2File} {
		text, err := ownFiles.ReadFile(file)
		if err != nil {
			return Kernel{}, fmt.Errorf("bootchain kernel: %w", err)
		}
		b, err := hex0.Assemble(bytes.NewReader(text))
		if err != nil {
			return Kernel{}, fmt.Errorf("bootchain kernel: %s: %w", file, err)
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != pins[name] {
			return Kernel{}, fmt.Errorf("bootchain kernel: %s assembles to sha256 %s, expected %s (kernel/SHA256SUMS)", file, got, pins[name])
		}
		texts[name] = text
	}
	k, err := NewKernel(texts["stage1"], texts["stage2"])
	if err != nil {
		return Kernel{}, err
	}
	k.Name = KernelBootchain
	return k, nil
}

// ownPins reads kernel/SHA256SUMS: "<sha256>  stage1" and "... stage2".
func ownPins() (map[string]string, error) {
	b, err := ownFiles.ReadFile("kernel/SHA256SUMS")
	if err != nil {
		return nil, fmt.Errorf("bootchain kernel: %w", err)
	}
	pins := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || len(f[0]) != 64 {
			return nil, fmt.Errorf("bootchain kernel: SHA256SUMS line %d: expected \"<sha256>  <name>\", found %q", n, sc.Text())
		}
		pins[f[1]] = f[0]
	}
	if pins["stage1"] == "" || pins["stage2"] == "" {
		return nil, fmt.Errorf("bootchain kernel: SHA256SUMS: expected pins for stage1 and stage2")
	}
	return pins, nil
}

// SelectKernel returns the kernel called name (KernelNames; empty is the
// default, builder-hex0): bootchain's own, or upstream's loaded from its
// pinned source (supplied, else the cache under cacheDir) by LoadKernel.
func SelectKernel(ctx context.Context, name, supplied, cacheDir string) (Kernel, error) {
	switch name {
	case "", KernelBuilderHex0:
		return LoadKernel(ctx, supplied, cacheDir)
	case KernelBootchain:
		return BootchainKernel()
	}
	return Kernel{}, fmt.Errorf("kernel %q: expected one of %s", name, strings.Join(KernelNames, ", "))
}
