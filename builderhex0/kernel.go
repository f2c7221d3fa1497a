// Package builderhex0 runs a chain on builder-hex0, a bootloader and
// 32-bit POSIX kernel written in commented hex0 (github.com/ironmeld/builder-hex0),
// under QEMU with its default BIOS: no Linux kernel, no binary but the
// 512-byte stage-1 boot sector, which bootchain assembles on the host from
// upstream's pinned hex0 with its own assembler (package hex0).
//
// The backend boots either of two kernels (Kernel, KernelNames) that speak
// the same disk protocol: upstream's builder-hex0 from its pinned source
// (the default), or bootchain's own boot sector and kernel, written for
// bootchain in commented hex0 (kernel/stage1.hex0, kernel/stage2.hex0,
// generated from kernel/*.S by internal/kernelgen and pinned in
// kernel/SHA256SUMS) and embedded, so the backend runs with no upstream
// file at all (BootchainKernel; --kernel bootchain).
//
// The disk image (Image) holds, from sector 0:
//
//	sector 0        the stage-1 boot sector (builder-hex0-x86-stage1.hex0, assembled)
//	sectors 1-174   the stage-2 kernel's hex0 source, as text, then zeros
//	                (stage 1 assembles it in memory and stops at the first zero byte)
//	sector 175-     the build script that the kernel's shell reads (Script): every
//	                file of the guest's root loaded with `src`, the seeds and
//	                catm assembled with the kernel's `hex0` command, then the
//	                kaem seed running the chain's steps; a zero byte where a
//	                command would start ends it (a file's bytes after `src` may
//	                hold zeros: src reads exactly its count)
//	then            zeros up to the image size
//
// After the steps, the kernel writes its file /dev/hda over the disk from
// sector 0 and prints its length (eight hex digits) on the console. That
// file is the result area (Decode): frames in the guest protocol's format
// (package qemu's markers, one nonce per chain), joined by FinishScript
// (and JoinScript, past one command line's worth) from the outputs and the pieces RunScript left after each step that
// ended well:
//
//	bootchain-frame NONCE hello
//	bootchain-frame NONCE begin N              for each step N that ended with status 0:
//	bootchain-frame NONCE end N
//	bootchain-frame NONCE out N K /PATH        for each output K of step N:
//	<the file's bytes>
//	bootchain-frame NONCE /out N K             (preceded by a line feed)
//	bootchain-frame NONCE done                 every step ran; or instead
//	bootchain-frame NONCE begin N              of the step whose command failed
//
// The host reads the area after QEMU exits, checks that its frames end
// exactly at the length the kernel printed, and hashes every file against
// its pin (package engine), as for every other backend.
package builderhex0

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/hex0"
	"github.com/bootchain/bootchain/source"
	"github.com/bootchain/bootchain/verify"
)

// SourceName is the name builder-hex0's source goes by (--source NAME=DIR).
const SourceName = "builder-hex0"

// Commit is the builder-hex0 commit whose hex0 files are pinned.
const Commit = "b8a2047910d47c62fe65bcd762f6c747c45c7549"

// Files of builder-hex0 the backend uses.
const (
	Stage1File = "builder-hex0-x86-stage1.hex0" // 16-bit boot sector: reads stage 2's hex0 from disk and assembles it
	Stage2File = "builder-hex0-x86-stage2.hex0" // the kernel, its shell and its hex0 command
)

// Source is builder-hex0 as a pinned upstream source: the repository's
// archive at Commit, and the SHA-256 of each file the backend reads.
// GitHub's archives are not byte-stable, so only the files are pinned.
func Source() chain.Source {
	return chain.Source{
		Name:    SourceName,
		Version: Commit[:12],
		URLs:    []string{"https://github.com/ironmeld/builder-hex0/archive/" + Commit + ".tar.gz"},
		Strip:   1,
		Files: map[string]string{
			Stage1File: "b137141c916c5eb745a67bdfd314af33a445972db9c77f2b06c8b48f39a447e8",
			Stage2File: "37b765a6aecd007e4afec714211aa4d8f39515ebc3e277fc1251d4b54fd31c66",
		},
		Sizes: map[string]int64{Stage1File: 6512, Stage2File: 88615},
	}
}

// Kernel is what boots: the assembled boot sector and the kernel's source.
// Both kernels (KernelNames) share the disk layout below and the shell's
// protocol; only their hex0 differs.
type Kernel struct {
	Name   string // KernelBuilderHex0 or KernelBootchain
	Stage1 []byte // 512 bytes, ending in 55 AA
	Stage2 []byte // hex0 text, assembled by Stage1 at boot
}

// LoadKernel opens the pinned source (supplied: a --source directory or
// archive, else the cache under cacheDir), checks every file against its
// pin and assembles the boot sector with bootchain's hex0 assembler.
func LoadKernel(ctx context.Context, supplied, cacheDir string) (Kernel, error) {
	src := Source()
	t, err := source.Open(ctx, src, supplied, cacheDir)
	if err != nil {
		return Kernel{}, err
	}
	s1, err := verify.ReadRegular(t.Path(Stage1File), src.Sizes[Stage1File])
	if err != nil {
		return Kernel{}, fmt.Errorf("source %s: %w", SourceName, err)
	}
	s2, err := verify.ReadRegular(t.Path(Stage2File), src.Sizes[Stage2File])
	if err != nil {
		return Kernel{}, fmt.Errorf("source %s: %w", SourceName, err)
	}
	k, err := NewKernel(s1, s2)
	if err != nil {
		return Kernel{}, err
	}
	k.Name = KernelBuilderHex0
	return k, nil
}

// SourceDir returns the directory holding builder-hex0's verified files:
// the cache's copy after supplied (or an earlier --source) put them there.
func SourceDir(ctx context.Context, supplied, cacheDir string) (string, error) {
	t, err := source.Open(ctx, Source(), supplied, cacheDir)
	if err != nil {
		return "", err
	}
	return t.Root, nil
}

// NewKernel assembles stage 1 from its hex0 source and checks both parts
// fit the disk layout. Errors name upstream's files; BootchainKernel calls
// it on bootchain's own.
func NewKernel(stage1Hex0, stage2Hex0 []byte) (Kernel, error) {
	boot, err := hex0.AssembleLenient(bytes.NewReader(stage1Hex0))
	if err != nil {
		return Kernel{}, fmt.Errorf("builder-hex0: %s: %w", Stage1File, err)
	}
	if len(boot) != SectorSize || boot[510] != 0x55 || boot[511] != 0xAA {
		return Kernel{}, fmt.Errorf("builder-hex0: %s: expected a 512-byte boot sector ending in 55 AA, assembled %d bytes", Stage1File, len(boot))
	}
	if max := (ScriptSector - 1) * SectorSize; len(stage2Hex0) >= max {
		return Kernel{}, fmt.Errorf("builder-hex0: %s: expected under %d bytes (sectors 1-%d), found %d", Stage2File, max, ScriptSector-1, len(stage2Hex0))
	}
	if i := bytes.IndexByte(stage2Hex0, 0); i >= 0 {
		return Kernel{}, fmt.Errorf("builder-hex0: %s: a zero byte at offset %d would end stage 1's assembly there", Stage2File, i)
	}
	return Kernel{Stage1: boot, Stage2: stage2Hex0}, nil
}

// Disk layout constants.
const (
	SectorSize = 512
	// ScriptSector is where the stage-2 kernel's shell starts reading its
	// script when it was loaded by stage 1 (logical sector 0xAF).
	ScriptSector = 175
	// DefaultImageSize leaves room for a result area of most of a GiB; the
	// file is sparse.
	DefaultImageSize = 1 << 30
)

// Image returns the first bytes of the disk: boot sector, kernel source,
// padding, script and its ending zero byte. The rest of the disk is zeros.
func Image(k Kernel, script []byte) ([]byte, error) {
	if err := CheckScript(script); err != nil {
		return nil, err
	}
	b := make([]byte, ScriptSector*SectorSize, ScriptSector*SectorSize+len(script)+SectorSize)
	copy(b, k.Stage1)
	copy(b[SectorSize:], k.Stage2)
	b = append(b, script...)
	b = append(b, 0)
	if r := len(b) % SectorSize; r != 0 {
		b = append(b, make([]byte, SectorSize-r)...)
	}
	return b, nil
}

// WriteImage writes the disk image to path: Image, then zeros (a sparse
// file) up to size bytes, at least room for the image itself.
func WriteImage(path string, k Kernel, script []byte, size int64) error {
	b, err := Image(k, script)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("builder-hex0: disk image: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("builder-hex0: disk image: %w", err)
	}
	if size < int64(len(b)) {
		size = int64(len(b))
	}
	size = (size + SectorSize - 1) / SectorSize * SectorSize
	if err := f.Truncate(size); err != nil {
		f.Close()
		return fmt.Errorf("builder-hex0: disk image: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("builder-hex0: disk image: %w", err)
	}
	return nil
}

// CheckScript checks script as the kernel's shell reads it: every command
// is one line, and a zero byte where a command starts ends the script, so
// no command line may hold one; `src N NAME` is followed by exactly N bytes
// of the file, which src copies whatever they are (zeros too: a gzip
// archive enters whole).
func CheckScript(script []byte) error {
	for off := 0; off < len(script); {
		nl := bytes.IndexByte(script[off:], '\n')
		if nl < 0 {
			return fmt.Errorf("builder-hex0: script: the command at offset %d has no line feed", off)
		}
		line := script[off : off+nl]
		if i := bytes.IndexByte(line, 0); i >= 0 {
			return fmt.Errorf("builder-hex0: script: a zero byte at offset %d, in a command line, would end the script there", off+i)
		}
		off += nl + 1
		rest, ok := bytes.CutPrefix(line, []byte("src "))
		if !ok {
			continue
		}
		count, name, ok := bytes.Cut(rest, []byte(" "))
		n, err := strconv.Atoi(string(count))
		if !ok || err != nil || len(name) == 0 || bytes.ContainsFunc(count, func(r rune) bool { return r < '0' || r > '9' }) {
			return fmt.Errorf("builder-hex0: script: %q at offset %d: expected src COUNT NAME", line, off-nl-1)
		}
		if n > len(script)-off {
			return fmt.Errorf("builder-hex0: script: src %s: expected %d bytes after its line, found %d", name, n, len(script)-off)
		}
		off += n
	}
	return nil
}
