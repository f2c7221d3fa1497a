package image

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/bootchain/bootchain/verify"
)

// Blob is one piece of an image: its length and SHA-256 (lowercase hex).
type Blob struct {
	Size   int64
	SHA256 string
}

func blobOf(b []byte) Blob { return Blob{Size: int64(len(b)), SHA256: sha256Hex(b)} }

// Manifest is what Inspect finds in an image.
type Manifest struct {
	Image         Blob     // the whole disk image file
	DiskGUID      string   // GPT disk GUID
	ESPGUID       string   // unique GUID of the EFI system partition
	ESPStart      uint64   // first sector (512 bytes) of the EFI system partition
	ESPSectors    uint64   // its length in sectors
	Files         []string // every regular file in the partition, sorted
	Loader        Blob     // LoaderPath, the unified kernel image
	Kernel        Blob     // its .linux section
	KernelRelease string   // its .uname section
	Initramfs     Blob     // its .initrd section (zero if absent)
	Cmdline       string   // its .cmdline section
	CmdlineBlob   Blob     // hash of the command line's bytes
	OSRelease     string   // its .osrel section
	Sections      []Section
}

// Inspect reads the disk image at name (a file, or a device an image was
// written to) and reports what
// boots from it: the GPT, the EFI system partition's files, and the kernel,
// initramfs and command line inside its unified kernel image, with their
// SHA-256. The image is as long as its GPT says (up to the backup GPT in its
// last sector), so a stick reports the same image hash as the file written to
// it. It fails when the image is not one Write could have produced: no
// protective MBR, no EFI system partition, no LoaderPath, or a loader that is
// not a unified kernel image.
func Inspect(name string) (m *Manifest, err error) {
	defer func() {
		// go-diskfs parses untrusted on-disk structures; a corrupt image must
		// be an error, not a crash of the auditor's tool.
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("image: inspect %s: corrupt image (%v)", name, r)
		}
	}()
	m, err = inspect(name)
	if err != nil {
		return nil, fmt.Errorf("image: inspect %s: %w", name, err)
	}
	return m, nil
}

func inspect(name string) (*Manifest, error) {
	m := &Manifest{}
	f, err := verify.OpenRegularOrBlock(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := imageLength(f)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	// A section reader: imageLength leaves a device's offset at its end.
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
		return nil, fmt.Errorf("read %d bytes: %w", size, err)
	}
	m.Image = Blob{Size: size, SHA256: hex.EncodeToString(h.Sum(nil))}

	d, err := diskfs.Open(name, diskfs.WithOpenMode(diskfs.ReadOnly), diskfs.WithSectorSize(sectorSize))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	pt, err := d.GetPartitionTable()
	if err != nil {
		return nil, fmt.Errorf("partition table: %w", err)
	}
	t, ok := pt.(*gpt.Table)
	if !ok {
		return nil, fmt.Errorf("partition table is %s, expected GPT", pt.Type())
	}
	if !t.ProtectiveMBR {
		return nil, errors.New("no protective MBR in front of the GPT")
	}
	if err := t.Verify(d.Backend, uint64(m.Image.Size)); err != nil {
		return nil, fmt.Errorf("backup GPT: %w", err)
	}
	m.DiskGUID = t.GUID
	var esp *gpt.Partition
	for _, p := range t.Partitions {
		if p.Type == gpt.EFISystemPartition {
			if esp != nil {
				return nil, errors.New("two EFI system partitions, expected one")
			}
			esp = p
		}
	}
	if esp == nil {
		return nil, errors.New("no EFI system partition in the GPT")
	}
	m.ESPGUID, m.ESPStart, m.ESPSectors = esp.GUID, esp.Start, esp.End-esp.Start+1
	boot := make([]byte, sectorSize)
	if _, err := d.Backend.ReadAt(boot, int64(esp.Start)*sectorSize); err != nil {
		return nil, fmt.Errorf("EFI system partition boot sector: %w", err)
	}
	if _, err := parseFAT32(boot); err != nil {
		return nil, fmt.Errorf("EFI system partition: %w", err)
	}
	fsys, err := d.GetFilesystem(esp.Index)
	if err != nil {
		return nil, fmt.Errorf("EFI system partition %d: %w", esp.Index, err)
	}
	err = fs.WalkDir(fsys, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != "." && e.Type().IsRegular() {
			m.Files = append(m.Files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("EFI system partition: %w", err)
	}
	uki, err := fsys.ReadFile(LoaderPath)
	if err != nil {
		return nil, fmt.Errorf("EFI system partition: %s: %w", LoaderPath, err)
	}
	m.Loader = blobOf(uki)
	if err := m.readUKI(uki); err != nil {
		return nil, fmt.Errorf("%s: %w", LoaderPath, err)
	}
	return m, nil
}

// readUKI fills the manifest's loader fields from the unified kernel image.
func (m *Manifest) readUKI(uki []byte) error {
	secs, data, err := readSections(uki)
	if err != nil {
		return err
	}
	m.Sections = secs
	k, ok := data[SectionLinux]
	if !ok {
		return fmt.Errorf("no %s section, expected a unified kernel image", SectionLinux)
	}
	m.Kernel = blobOf(k)
	m.KernelRelease = string(data[SectionUname])
	if b, ok := data[SectionInitrd]; ok {
		m.Initramfs = blobOf(b)
	}
	c := data[SectionCmdline]
	m.Cmdline, m.CmdlineBlob = string(c), blobOf(c)
	m.OSRelease = string(data[SectionOSRel])
	return nil
}

// String lists the manifest for people: one line per item, hashes in full,
// stable for the same image.
func (m *Manifest) String() string {
	var b strings.Builder
	line := func(what string, x Blob, note string) {
		fmt.Fprintf(&b, "%-10s %10d bytes  sha256 %s%s\n", what, x.Size, x.SHA256, note)
	}
	line("image", m.Image, "")
	fmt.Fprintf(&b, "gpt        disk %s, EFI system partition %s at sector %d, %d sectors\n", m.DiskGUID, m.ESPGUID, m.ESPStart, m.ESPSectors)
	fmt.Fprintf(&b, "files      %s\n", strings.Join(m.Files, " "))
	line("loader", m.Loader, "  "+strings.TrimPrefix(path.Clean(LoaderPath), "/"))
	rel := ""
	if m.KernelRelease != "" {
		rel = "  release " + m.KernelRelease
	}
	line("kernel", m.Kernel, rel)
	line("initramfs", m.Initramfs, "")
	line("cmdline", m.CmdlineBlob, fmt.Sprintf("  %q", m.Cmdline))
	for _, s := range m.Sections {
		fmt.Fprintf(&b, "  section %-9s va %#08x %10d bytes  sha256 %s\n", s.Name, s.VirtualAddress, s.Size, s.SHA256)
	}
	return b.String()
}

// imageLength returns the length of the image at the start of f, from the
// primary GPT header's backup-header address, and checks that f, when a
// regular file, is exactly that long and, when a device, at least that long.
func imageLength(f *os.File) (int64, error) {
	hdr := make([]byte, sectorSize)
	if _, err := f.ReadAt(hdr, sectorSize); err != nil {
		return 0, fmt.Errorf("no GPT header in sector 1: %w", err)
	}
	if string(hdr[:8]) != "EFI PART" {
		return 0, fmt.Errorf("no GPT header in sector 1 (signature %q, expected \"EFI PART\")", hdr[:8])
	}
	backup := binary.LittleEndian.Uint64(hdr[32:])
	if backup == 0 || backup > (1<<63-1)/sectorSize-1 {
		return 0, fmt.Errorf("GPT header: backup header at sector %d", backup)
	}
	size := int64(backup+1) * sectorSize
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	have := st.Size()
	if st.Mode()&fs.ModeDevice != 0 {
		if have, err = f.Seek(0, io.SeekEnd); err != nil {
			return 0, err
		}
		if have < size {
			return 0, fmt.Errorf("device has %d bytes, the image in it claims %d", have, size)
		}
		return size, nil
	}
	if have != size {
		return 0, fmt.Errorf("file has %d bytes, its GPT says %d (image truncated or resized?)", have, size)
	}
	return size, nil
}
