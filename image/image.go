// Package image writes bootable USB disk images for bare-metal runs of the
// chain (Write), reads them back for audit (Inspect), and puts them on a
// stick (CheckWritable for the confirmation prompt, then WriteDevice).
//
// An image is a raw disk with a GUID partition table (and the protective MBR
// that goes with it) and one EFI system partition, FAT32, holding a single
// file: EFI/BOOT/BOOTX64.EFI, the path UEFI firmware boots from removable
// media without any boot entry. That file is a unified kernel image (UKI):
// systemd's EFI stub (Debian package systemd-boot-efi) with the Linux
// kernel, the chain's initramfs, the kernel command line, the kernel release
// and an os-release added as PE sections, the layout systemd's ukify makes.
//
// Why a UKI rather than the kernel alone plus a loader: UEFI firmware passes
// no command line and no initramfs to a removable-media boot file, so the
// kernel's own EFI stub alone would start without either; a boot loader
// (systemd-boot, GRUB) would add a second binary, its configuration files and
// a menu to the partition. The UKI is one file whose every byte is covered by
// Inspect's hashes: what boots is exactly the listed kernel, initramfs and
// command line, and the stub is the only code between firmware and kernel.
// Legacy BIOS boot is not provided: it would need a BIOS boot loader in the
// MBR and partition, more code to trust for machines that all boot UEFI.
//
// Everything is pure Go and needs no privilege, loop device or mkfs: the
// PE sections are appended by this package (no Go library writes PE files),
// and the partition table and FAT32 file system are written by
// github.com/diskfs/go-diskfs in its reproducible mode, after which this
// package corrects the few fields go-diskfs gets wrong (see finishFAT32) so
// that fsck.fat finds nothing to fix. The same inputs give a byte-identical
// image on any machine: the GUIDs derive from the UKI's SHA-256, every FAT
// timestamp is 1980-01-01 00:00:00, the volume serial is zero.
package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"sync"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/partition/gpt"
)

// Config is what goes into an image. Kernel and Stub are required.
type Config struct {
	// Kernel is an x86-64 Linux bzImage built with CONFIG_EFI_STUB, such as
	// Debian's /boot/vmlinuz-*.
	Kernel []byte
	// Stub is systemd's UEFI stub for x86-64, see DefaultStub.
	Stub []byte
	// Initramfs is the archive the kernel unpacks as its root; may be empty.
	Initramfs []byte
	// Cmdline is the kernel command line: printable ASCII, at most 2047
	// bytes; may be empty.
	Cmdline string
	// OSRelease is the .osrel section (os-release format); empty means
	// DefaultOSRelease.
	OSRelease string
}

// LoaderPath is where the unified kernel image lives in the EFI system
// partition: the UEFI default boot file for x86-64 removable media.
const LoaderPath = "/EFI/BOOT/BOOTX64.EFI"

// VolumeLabel is the FAT volume label of the EFI system partition.
const VolumeLabel = "BOOTCHAIN"

// Layout constants: sectors are 512 bytes; the partition starts at 1 MiB and
// 1 MiB is left at the end for the backup GPT, as partitioning tools do.
const (
	sectorSize = 512
	mib        = 1 << 20
	// minESP keeps the FAT32 file system well above the 65525 clusters
	// below which firmware would read it as FAT16 (go-diskfs uses
	// 512-byte clusters up to 260 MB).
	minESP = 64 * mib
)

// fatEpoch is the time stamped on every FAT directory entry: 1980-01-01
// 00:00:00 UTC, the first moment FAT can represent.
const fatEpoch = 315532800

// UKI returns the unified kernel image for c: the stub with .osrel,
// .cmdline, .uname, .initrd and .linux sections added.
func UKI(c Config) ([]byte, error) {
	if len(c.Kernel) == 0 {
		return nil, errors.New("image: no kernel, expected an x86-64 bzImage with an EFI stub")
	}
	if len(c.Stub) == 0 {
		return nil, errors.New("image: no EFI stub, expected systemd's linuxx64.efi.stub")
	}
	uki, err := buildUKI(c.Stub, c.Kernel, c.Initramfs, c.Cmdline, c.OSRelease)
	if err != nil {
		return nil, fmt.Errorf("image: unified kernel image: %w", err)
	}
	return uki, nil
}

// Write writes the disk image for c to the host file out, atomically (a
// temporary file in the same directory, synced, then renamed over out).
func Write(ctx context.Context, out string, c Config) (err error) {
	uki, err := UKI(c)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("image: %s: %w", out, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp*")
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := writeDisk(ctx, tmp, uki); err != nil {
		return fmt.Errorf("image: %s: %w", out, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("image: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("image: %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("image: %s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("image: %w", err)
	}
	return nil
}

// layout returns the disk size and the EFI system partition's first sector
// and sector count for a loader of n bytes.
func layout(n int) (diskSize int64, start, sectors uint64) {
	// FAT32 with 512-byte clusters spends 2 x 4 bytes of FAT per cluster
	// (1.6 %); 1/32 extra plus 1 MiB covers that, directories and rounding.
	esp := max(minESP, alignUp(uint64(n)+uint64(n)/32+mib, mib))
	for !fitsFAT(esp / sectorSize) {
		esp += mib
	}
	start = mib / sectorSize
	sectors = esp / sectorSize
	return int64(mib + esp + mib), start, sectors
}

// writeDisk writes the partition table and the FAT32 EFI system partition
// holding uki to f, which must be empty.
func writeDisk(ctx context.Context, f *os.File, uki []byte) error {
	size, start, sectors := layout(len(uki))
	if err := f.Truncate(size); err != nil {
		return err
	}
	d, err := diskfs.OpenBackend(file.New(f, false), diskfs.WithOpenMode(diskfs.ReadWrite), diskfs.WithSectorSize(sectorSize))
	if err != nil {
		return fmt.Errorf("open disk: %w", err)
	}
	sum := sha256.Sum256(uki)
	table := &gpt.Table{
		LogicalSectorSize:  sectorSize,
		PhysicalSectorSize: sectorSize,
		ProtectiveMBR:      true,
		GUID:               derivedGUID("disk", sum),
		Partitions: []*gpt.Partition{{
			Index: 1,
			Start: start,
			End:   start + sectors - 1,
			Type:  gpt.EFISystemPartition,
			Name:  "EFI system partition",
			GUID:  derivedGUID("esp", sum),
		}},
	}
	if err := d.Partition(table); err != nil {
		return fmt.Errorf("partition table: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err = withFATEpoch(func() error {
		fs, err := d.CreateFilesystem(disk.FilesystemSpec{
			Partition:    1,
			FSType:       filesystem.TypeFat32,
			VolumeLabel:  VolumeLabel,
			Reproducible: true,
		})
		if err != nil {
			return fmt.Errorf("FAT32: %w", err)
		}
		if err := fs.Mkdir(path.Dir(LoaderPath)); err != nil {
			return fmt.Errorf("FAT32: mkdir %s: %w", path.Dir(LoaderPath), err)
		}
		w, err := fs.OpenFile(LoaderPath, os.O_CREATE|os.O_RDWR)
		if err != nil {
			return fmt.Errorf("FAT32: %s: %w", LoaderPath, err)
		}
		if n, err := w.Write(uki); err != nil || n != len(uki) {
			return fmt.Errorf("FAT32: %s: wrote %d of %d bytes: %v", LoaderPath, n, len(uki), err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("FAT32: %s: %w", LoaderPath, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := finishFAT32(f, start, sectors); err != nil {
		return fmt.Errorf("FAT32 written by go-diskfs: %w", err)
	}
	return nil
}

// epochMu serializes withFATEpoch: the environment is process-wide.
var epochMu sync.Mutex

// withFATEpoch runs fn with SOURCE_DATE_EPOCH set to fatEpoch and restores
// the variable afterwards. go-diskfs takes every FAT timestamp from that
// variable (falling back to the wall clock) and offers no other way to set
// the directory entries it creates, so this is the only way to make them
// fixed; and a caller's own SOURCE_DATE_EPOCH must not leak into the image.
func withFATEpoch(fn func() error) error {
	epochMu.Lock()
	defer epochMu.Unlock()
	old, had := os.LookupEnv("SOURCE_DATE_EPOCH")
	os.Setenv("SOURCE_DATE_EPOCH", strconv.Itoa(fatEpoch))
	defer func() {
		if had {
			os.Setenv("SOURCE_DATE_EPOCH", old)
		} else {
			os.Unsetenv("SOURCE_DATE_EPOCH")
		}
	}()
	return fn()
}

// derivedGUID returns a version-4-shaped GUID derived from the UKI's hash, so
// that the same image always carries the same GUIDs and different images
// (almost surely) different ones.
func derivedGUID(role string, uki [32]byte) string {
	h := sha256.Sum256(append([]byte("bootchain image "+role+" guid\x00"), uki[:]...))
	g := h[:16]
	g[6] = g[6]&0x0f | 0x40
	g[8] = g[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", g[0:4], g[4:6], g[6:8], g[8:10], g[10:16])
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
