package image

import (
	"bytes"
	"debug/pe"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
)

// DefaultStub is where Debian's systemd-boot-efi package installs the UEFI
// stub that a unified kernel image starts with.
const DefaultStub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"

// ErrNoStub is wrapped by FindStub when no stub is installed.
var ErrNoStub = errors.New("no EFI stub found; apt-get install systemd-boot-efi or pass the stub's path")

// FindStub returns the EFI stub to use: path when given (it must be a regular
// file), else DefaultStub.
func FindStub(path string) (string, error) {
	p := path
	if p == "" {
		p = DefaultStub
	}
	st, err := os.Stat(p)
	switch {
	case err != nil && path == "" && errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("%w (no %s)", ErrNoStub, DefaultStub)
	case err != nil:
		return "", fmt.Errorf("stub %s: %w", p, err)
	case !st.Mode().IsRegular():
		return "", fmt.Errorf("stub %s: is %s, expected a regular file", p, st.Mode().Type())
	}
	return p, nil
}

// Section names of a unified kernel image, as systemd-stub reads them.
const (
	SectionOSRel   = ".osrel"
	SectionCmdline = ".cmdline"
	SectionUname   = ".uname"
	SectionInitrd  = ".initrd"
	SectionLinux   = ".linux"
)

// DefaultOSRelease is the .osrel section written when Config.OSRelease is
// empty: boot menus (systemd-boot, firmware) show its PRETTY_NAME.
const DefaultOSRelease = "ID=bootchain\nNAME=bootchain\nPRETTY_NAME=\"bootchain bootstrap\"\n"

// maxCmdline is the x86 kernel's COMMAND_LINE_SIZE less its NUL.
const maxCmdline = 2047

// payload is one section to append: name and content.
type payload struct {
	name string
	data []byte
}

// buildUKI joins stub, kernel, initramfs and command line into a unified
// kernel image in the order ukify uses (.osrel, .cmdline, .uname, .initrd,
// .linux). Empty optional parts are left out; the kernel is required.
func buildUKI(stub, kernel, initramfs []byte, cmdline, osrel string) ([]byte, error) {
	if err := checkCmdline(cmdline); err != nil {
		return nil, err
	}
	uname, err := kernelRelease(kernel)
	if err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	if osrel == "" {
		osrel = DefaultOSRelease
	}
	var secs []payload
	add := func(name string, data []byte) {
		if len(data) > 0 {
			secs = append(secs, payload{name, data})
		}
	}
	add(SectionOSRel, []byte(osrel))
	add(SectionCmdline, []byte(cmdline))
	add(SectionUname, []byte(uname))
	add(SectionInitrd, initramfs)
	add(SectionLinux, kernel)
	uki, err := appendSections(stub, secs)
	if err != nil {
		return nil, fmt.Errorf("stub: %w", err)
	}
	return uki, nil
}

func checkCmdline(c string) error {
	if len(c) > maxCmdline {
		return fmt.Errorf("command line: %d bytes, expected at most %d", len(c), maxCmdline)
	}
	for i := 0; i < len(c); i++ {
		if c[i] < 0x20 || c[i] > 0x7e {
			return fmt.Errorf("command line: byte %#02x at offset %d, expected printable ASCII on one line", c[i], i)
		}
	}
	return nil
}

// kernelRelease checks that kernel is an x86 bzImage with an EFI stub (a
// PE/COFF file carrying the Linux setup header) and returns its release
// string ("6.1.0-26-amd64"), read from the setup header's kernel_version
// pointer as `file` and ukify do.
func kernelRelease(k []byte) (string, error) {
	const (
		hdrMagicOff   = 0x202
		versionPtrOff = 0x20e
	)
	if len(k) < 0x300 || k[0] != 'M' || k[1] != 'Z' {
		return "", errors.New("no MZ header, expected an x86 bzImage with an EFI stub (/boot/vmlinuz-*)")
	}
	if string(k[hdrMagicOff:hdrMagicOff+4]) != "HdrS" {
		return "", errors.New("no Linux setup header (HdrS), expected an x86 bzImage with an EFI stub")
	}
	f, err := pe.NewFile(bytes.NewReader(k))
	if err != nil {
		return "", fmt.Errorf("not a PE/COFF file (%v), expected a kernel built with CONFIG_EFI_STUB", err)
	}
	f.Close()
	ptr := int(binary.LittleEndian.Uint16(k[versionPtrOff:]))
	if ptr == 0 {
		return "", nil
	}
	start := ptr + 0x200
	if start >= len(k) {
		return "", fmt.Errorf("kernel_version pointer %#x lies beyond the file's %d bytes", ptr, len(k))
	}
	s := k[start:min(len(k), start+256)]
	if i := bytes.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	release, _, _ := strings.Cut(string(s), " ")
	for _, c := range []byte(release) {
		if c <= 0x20 || c > 0x7e {
			return "", fmt.Errorf("kernel_version %q is not printable ASCII", s)
		}
	}
	return release, nil
}

// PE/COFF layout constants (Microsoft PE format specification).
const (
	coffHeaderSize    = 20
	sectionHeaderSize = 40
	// Offsets inside the PE32+ optional header.
	optSizeOfInitData = 8
	optSizeOfImage    = 56
	optCheckSum       = 64
	dirSecurity       = 4
	// IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ: what ukify and
	// objcopy --add-section give a read-only data section.
	dataSectionFlags = 0x40000040
)

// appendSections returns a copy of the PE32+ image stub with secs added as
// new sections, the way `objcopy --add-section` or systemd's ukify build a
// unified kernel image. debug/pe only reads PE files and no Go library
// writes them, so the few header fields that change are patched here by
// offset.
//
// Every byte of stub keeps its place: new section headers go into the free
// space after the section table (inside SizeOfHeaders; the stub must leave
// room, as ukify also requires), new raw data is appended after the end of
// the file at FileAlignment (so a trailing COFF symbol table stays valid),
// and each section's virtual address follows the previous one at
// SectionAlignment. NumberOfSections, SizeOfImage, SizeOfInitializedData and
// the checksum are updated. A signed stub is refused: appending would
// invalidate its signature and move its certificate table off the end.
func appendSections(stub []byte, secs []payload) ([]byte, error) {
	f, err := pe.NewFile(bytes.NewReader(stub))
	if err != nil {
		return nil, fmt.Errorf("not a PE/COFF image: %w", err)
	}
	defer f.Close()
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		return nil, errors.New("not a PE32+ image, expected a 64-bit EFI application")
	}
	if f.Machine != pe.IMAGE_FILE_MACHINE_AMD64 {
		return nil, fmt.Errorf("machine %#04x, expected x86-64 (%#04x)", f.Machine, pe.IMAGE_FILE_MACHINE_AMD64)
	}
	if oh.Subsystem != pe.IMAGE_SUBSYSTEM_EFI_APPLICATION {
		return nil, fmt.Errorf("subsystem %d, expected an EFI application (%d)", oh.Subsystem, pe.IMAGE_SUBSYSTEM_EFI_APPLICATION)
	}
	if oh.NumberOfRvaAndSizes > dirSecurity && oh.DataDirectory[dirSecurity].Size != 0 {
		return nil, errors.New("signed (has a certificate table); adding sections would break the signature: use the unsigned stub")
	}
	salign, falign := oh.SectionAlignment, oh.FileAlignment
	if falign < 512 || falign&(falign-1) != 0 || salign < falign || salign&(salign-1) != 0 {
		return nil, fmt.Errorf("alignment: section %#x, file %#x, expected powers of two with section >= file >= 512", salign, falign)
	}
	for _, s := range secs {
		if len(s.name) == 0 || len(s.name) > 8 {
			return nil, fmt.Errorf("section name %q: expected 1 to 8 bytes", s.name)
		}
		if f.Section(s.name) != nil {
			return nil, fmt.Errorf("already has a %s section, expected a bare stub", s.name)
		}
	}

	peOff := int(binary.LittleEndian.Uint32(stub[0x3c:]))
	coff := peOff + 4
	opt := coff + coffHeaderSize
	table := opt + int(f.SizeOfOptionalHeader)
	tableEnd := table + sectionHeaderSize*len(f.Sections)
	need := tableEnd + sectionHeaderSize*len(secs)
	if uint64(need) > uint64(oh.SizeOfHeaders) {
		return nil, fmt.Errorf("no room for %d more section headers: table ends at %#x, headers end at %#x", len(secs), tableEnd, oh.SizeOfHeaders)
	}
	if need > len(stub) {
		return nil, fmt.Errorf("file ends at %#x, inside the headers (%#x bytes)", len(stub), oh.SizeOfHeaders)
	}
	for i := tableEnd; i < need; i++ {
		if stub[i] != 0 {
			return nil, fmt.Errorf("header byte %#x after the section table is %#02x, expected free (zero) space", i, stub[i])
		}
	}
	for _, s := range f.Sections {
		if uint64(s.Offset)+uint64(s.Size) > uint64(len(stub)) {
			return nil, fmt.Errorf("section %s: %d bytes at %#x run past the file's end (%d bytes)", s.Name, s.Size, s.Offset, len(stub))
		}
		if s.Size > 0 && uint64(s.Offset) < uint64(need) {
			return nil, fmt.Errorf("section %s data at %#x overlaps the header space needed up to %#x", s.Name, s.Offset, need)
		}
	}

	va := uint64(oh.SizeOfImage)
	for _, s := range f.Sections {
		va = max(va, uint64(s.VirtualAddress)+uint64(max(s.VirtualSize, s.Size)))
	}
	va = alignUp(va, uint64(salign))
	off := alignUp(uint64(len(stub)), uint64(falign))

	out := make([]byte, off, int(off)+sizeAligned(secs, falign))
	copy(out, stub)
	initData := uint64(oh.SizeOfInitializedData)
	for i, s := range secs {
		size := uint64(len(s.data))
		raw := alignUp(size, uint64(falign))
		if va+size > 1<<32-1 || off+raw > 1<<32-1 {
			return nil, fmt.Errorf("section %s: %d bytes overflow the 32-bit PE address space", s.name, size)
		}
		h := out[tableEnd+sectionHeaderSize*i:][:sectionHeaderSize]
		copy(h[0:8], s.name)
		binary.LittleEndian.PutUint32(h[8:], uint32(size)) // VirtualSize
		binary.LittleEndian.PutUint32(h[12:], uint32(va))  // VirtualAddress
		binary.LittleEndian.PutUint32(h[16:], uint32(raw)) // SizeOfRawData
		binary.LittleEndian.PutUint32(h[20:], uint32(off)) // PointerToRawData
		binary.LittleEndian.PutUint32(h[36:], dataSectionFlags)
		out = append(out, s.data...)
		out = append(out, make([]byte, raw-size)...)
		off += raw
		va = alignUp(va+size, uint64(salign))
		initData += raw
	}
	if initData > 1<<32-1 {
		return nil, errors.New("initialized data exceeds 4 GiB")
	}
	binary.LittleEndian.PutUint16(out[coff+2:], uint16(len(f.Sections)+len(secs)))
	binary.LittleEndian.PutUint32(out[opt+optSizeOfInitData:], uint32(initData))
	binary.LittleEndian.PutUint32(out[opt+optSizeOfImage:], uint32(va))
	binary.LittleEndian.PutUint32(out[opt+optCheckSum:], peChecksum(out, opt+optCheckSum))
	return out, nil
}

func sizeAligned(secs []payload, falign uint32) int {
	n := 0
	for _, s := range secs {
		n += int(alignUp(uint64(len(s.data)), uint64(falign)))
	}
	return n
}

func alignUp(v, a uint64) uint64 { return (v + a - 1) &^ (a - 1) }

// peChecksum computes the PE image checksum (as IMAGEHLP's CheckSumMappedFile
// does): the 16-bit one's-complement-style sum of the file with the checksum
// field itself taken as zero, plus the file length.
func peChecksum(b []byte, field int) uint32 {
	var sum uint64
	for i := 0; i < len(b); i += 2 {
		if i >= field && i < field+4 {
			continue
		}
		w := uint64(b[i])
		if i+1 < len(b) {
			w |= uint64(b[i+1]) << 8
		}
		sum += w
		sum = (sum & 0xffff) + (sum >> 16)
	}
	sum = (sum & 0xffff) + (sum >> 16)
	return uint32(sum) + uint32(len(b))
}

// Section is one section of a PE/COFF file as Inspect reports it.
type Section struct {
	Name           string
	VirtualAddress uint32
	Size           int64  // bytes of content (the section's VirtualSize)
	SHA256         string // of those bytes, lowercase hex
}

// readSections returns every section of the PE image b with its content
// (VirtualSize bytes, as systemd-stub reads them), in header order.
func readSections(b []byte) ([]Section, map[string][]byte, error) {
	f, err := pe.NewFile(bytes.NewReader(b))
	if err != nil {
		return nil, nil, fmt.Errorf("not a PE/COFF image: %w", err)
	}
	defer f.Close()
	var list []Section
	data := map[string][]byte{}
	for _, s := range f.Sections {
		n := uint64(s.VirtualSize)
		if n > uint64(s.Size) {
			// Zero-filled tail (e.g. .bss-like): only the raw part is in the file.
			n = uint64(s.Size)
		}
		if uint64(s.Offset)+n > uint64(len(b)) {
			return nil, nil, fmt.Errorf("section %s: %d bytes at %#x run past the file's end (%d bytes)", s.Name, n, s.Offset, len(b))
		}
		c := b[s.Offset : uint64(s.Offset)+n]
		if _, dup := data[s.Name]; dup {
			return nil, nil, fmt.Errorf("section %s appears twice", s.Name)
		}
		data[s.Name] = c
		list = append(list, Section{Name: s.Name, VirtualAddress: s.VirtualAddress, Size: int64(len(c)), SHA256: sha256Hex(c)})
	}
	return list, data, nil
}
