package image

import (
	"bytes"
	"debug/pe"
	"encoding/binary"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/bootchain/bootchain/qemu"
)

// peSpec describes a synthetic PE32+ EFI application for tests: a DOS
// header, the PE headers at 0x80 and one .text section.
type peSpec struct {
	headers   uint32 // SizeOfHeaders, 0x400 unless set
	security  bool   // give it a certificate table (signed)
	machine   uint16 // 0x8664 unless set
	subsystem uint16 // EFI application unless set
	extra     string // name of a second section, if any
	trailer   []byte // bytes after the last section (a COFF symbol table, say)
}

// makePE builds the synthetic PE file s describes.
func makePE(s peSpec) []byte {
	const peOff, optSize = 0x80, 240
	if s.headers == 0 {
		s.headers = 0x400
	}
	if s.machine == 0 {
		s.machine = pe.IMAGE_FILE_MACHINE_AMD64
	}
	if s.subsystem == 0 {
		s.subsystem = pe.IMAGE_SUBSYSTEM_EFI_APPLICATION
	}
	nsec := 1
	if s.extra != "" {
		nsec = 2
	}
	textOff := alignUp(uint64(s.headers), 0x200)
	b := make([]byte, textOff+0x200*uint64(nsec))
	le := binary.LittleEndian
	copy(b, "MZ")
	le.PutUint32(b[0x3c:], peOff)
	copy(b[peOff:], "PE\x00\x00")
	coff := b[peOff+4:]
	le.PutUint16(coff[0:], s.machine)
	le.PutUint16(coff[2:], uint16(nsec))
	le.PutUint16(coff[16:], optSize)
	le.PutUint16(coff[18:], 0x206)
	opt := b[peOff+24:]
	le.PutUint16(opt[0:], 0x20b)
	le.PutUint32(opt[4:], 0x200)                  // SizeOfCode
	le.PutUint32(opt[16:], 0x1000)                // AddressOfEntryPoint
	le.PutUint32(opt[20:], 0x1000)                // BaseOfCode
	le.PutUint32(opt[32:], 0x1000)                // SectionAlignment
	le.PutUint32(opt[36:], 0x200)                 // FileAlignment
	le.PutUint32(opt[56:], 0x1000*uint32(nsec+1)) // SizeOfImage
	le.PutUint32(opt[60:], s.headers)
	le.PutUint16(opt[68:], s.subsystem)
	le.PutUint32(opt[108:], 16)
	if s.security {
		le.PutUint32(opt[112+8*4:], uint32(len(b)))
		le.PutUint32(opt[112+8*4+4:], 8)
	}
	sec := func(i int, name string, flags uint32) {
		h := b[peOff+24+optSize+40*i:]
		copy(h[0:8], name)
		le.PutUint32(h[8:], 0x10)
		le.PutUint32(h[12:], 0x1000*uint32(i+1))
		le.PutUint32(h[16:], 0x200)
		le.PutUint32(h[20:], uint32(textOff)+0x200*uint32(i))
		le.PutUint32(h[36:], flags)
	}
	sec(0, ".text", 0x60000020)
	copy(b[textOff:], "\xc3 synthetic code")
	if s.extra != "" {
		sec(1, s.extra, dataSectionFlags)
	}
	b = append(b, s.trailer...)
	le.PutUint32(opt[64:], peChecksum(b, peOff+24+64))
	return b
}

// makeKernel builds a synthetic "bzImage": a PE file with the Linux setup
// header magic and a kernel_version string, as kernelRelease reads them.
func makeKernel(version string) []byte {
	k := makePE(peSpec{})
	copy(k[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(k[0x20e:], 0x300-0x200)
	copy(k[0x300:], version+"\x00")
	return k
}

func TestPEChecksumMatchesRealFiles(t *testing.T) {
	paths := []string{DefaultStub, "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"}
	if k, err := qemu.FindKernel(""); err == nil {
		paths = append(paths, k)
	}
	n := 0
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		off := int(binary.LittleEndian.Uint32(b[0x3c:])) + 4 + coffHeaderSize + optCheckSum
		stored := binary.LittleEndian.Uint32(b[off:])
		if got := peChecksum(b, off); got != stored || stored == 0 {
			t.Errorf("%s: computed checksum %#x, file says %#x", p, got, stored)
		}
		n++
	}
	if n == 0 {
		t.Skip("no linker-made PE file to compare with (apt-get install systemd-boot-efi)")
	}
}

// TestUKILayout checks the appended sections the way a PE loader sees them:
// order, content, alignment, no overlap, image size, checksum, and that
// every byte of the stub outside the patched header fields is unchanged.
func TestUKILayout(t *testing.T) {
	trailer := bytes.Repeat([]byte("SYMTAB"), 100) // stands for a COFF symbol table
	stub := makePE(peSpec{trailer: trailer})
	kernel := makeKernel("6.1.0-test (fake@example) #1 SMP")
	initrd := bytes.Repeat([]byte("initramfs"), 1000)
	uki, err := UKI(Config{Kernel: kernel, Stub: stub, Initramfs: initrd, Cmdline: "console=ttyS0 panic=-1"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := pe.NewFile(bytes.NewReader(uki))
	if err != nil {
		t.Fatal(err)
	}
	oh := f.OptionalHeader.(*pe.OptionalHeader64)
	want := []struct{ name, data string }{
		{".text", ""},
		{SectionOSRel, DefaultOSRelease},
		{SectionCmdline, "console=ttyS0 panic=-1"},
		{SectionUname, "6.1.0-test"},
		{SectionInitrd, string(initrd)},
		{SectionLinux, string(kernel)},
	}
	if len(f.Sections) != len(want) {
		t.Fatalf("%d sections, want %d", len(f.Sections), len(want))
	}
	var prevEnd uint32
	for i, s := range f.Sections {
		if s.Name != want[i].name {
			t.Errorf("section %d is %s, want %s", i, s.Name, want[i].name)
		}
		if s.VirtualAddress%oh.SectionAlignment != 0 || s.Offset%oh.FileAlignment != 0 || s.Size%oh.FileAlignment != 0 {
			t.Errorf("%s: va %#x, offset %#x, raw size %#x not aligned to %#x/%#x", s.Name, s.VirtualAddress, s.Offset, s.Size, oh.SectionAlignment, oh.FileAlignment)
		}
		if s.VirtualAddress < prevEnd {
			t.Errorf("%s at va %#x overlaps the previous section ending at %#x", s.Name, s.VirtualAddress, prevEnd)
		}
		prevEnd = s.VirtualAddress + max(s.VirtualSize, s.Size)
		if i == 0 {
			continue
		}
		if s.Characteristics != dataSectionFlags {
			t.Errorf("%s: characteristics %#x, want %#x", s.Name, s.Characteristics, dataSectionFlags)
		}
		got, err := s.Data()
		if err != nil {
			t.Fatal(err)
		}
		if string(got[:s.VirtualSize]) != want[i].data || int(s.VirtualSize) != len(want[i].data) {
			t.Errorf("%s: content differs (%d bytes, want %d)", s.Name, s.VirtualSize, len(want[i].data))
		}
		if int(s.Offset) < len(stub) {
			t.Errorf("%s: data at %#x overwrites the stub (%d bytes)", s.Name, s.Offset, len(stub))
		}
	}
	if oh.SizeOfImage < prevEnd || oh.SizeOfImage%oh.SectionAlignment != 0 {
		t.Errorf("SizeOfImage %#x, want >= %#x and aligned", oh.SizeOfImage, prevEnd)
	}
	ck := 0x80 + 4 + coffHeaderSize + optCheckSum
	if got := peChecksum(uki, ck); got != oh.CheckSum {
		t.Errorf("checksum field %#x, computed %#x", oh.CheckSum, got)
	}
	// The stub's bytes stay, apart from the header fields appending changes.
	changed := map[int]bool{}
	for _, field := range []struct{ off, n int }{
		{0x80 + 4 + 2, 2}, // NumberOfSections
		{0x80 + 24 + optSizeOfInitData, 4},
		{0x80 + 24 + optSizeOfImage, 4},
		{ck, 4},
		{0x80 + 24 + 240 + 40, 40 * 5}, // the five new section headers
	} {
		for i := field.off; i < field.off+field.n; i++ {
			changed[i] = true
		}
	}
	for i := range stub {
		if !changed[i] && uki[i] != stub[i] {
			t.Fatalf("stub byte %#x changed from %#02x to %#02x", i, stub[i], uki[i])
		}
	}
}

func TestUKIRefuses(t *testing.T) {
	kernel := makeKernel("6.1.0-test")
	stub := makePE(peSpec{})
	noHdrS := makePE(peSpec{})
	tests := []struct {
		name string
		c    Config
		want string
	}{
		{"no kernel", Config{Stub: stub}, "no kernel"},
		{"no stub", Config{Kernel: kernel}, "no EFI stub"},
		{"ELF kernel", Config{Kernel: []byte("\x7fELF" + strings.Repeat("\x00", 1000)), Stub: stub}, "no MZ header"},
		{"PE without setup header", Config{Kernel: noHdrS, Stub: stub}, "no Linux setup header"},
		{"stub not PE", Config{Kernel: kernel, Stub: []byte("MZ not really")}, "not a PE/COFF image"},
		{"signed stub", Config{Kernel: kernel, Stub: makePE(peSpec{security: true})}, "signed"},
		{"no header room", Config{Kernel: kernel, Stub: makePE(peSpec{headers: 0x1b0 + 40*4}), Initramfs: []byte("cpio"), Cmdline: "x"}, "no room for 5 more section headers"},
		{"stub already a UKI", Config{Kernel: kernel, Stub: makePE(peSpec{extra: ".linux"})}, "already has a .linux section"},
		{"ARM64 stub", Config{Kernel: kernel, Stub: makePE(peSpec{machine: pe.IMAGE_FILE_MACHINE_ARM64})}, "expected x86-64"},
		{"not an EFI application", Config{Kernel: kernel, Stub: makePE(peSpec{subsystem: pe.IMAGE_SUBSYSTEM_WINDOWS_CUI})}, "expected an EFI application"},
		{"newline in cmdline", Config{Kernel: kernel, Stub: stub, Cmdline: "a\nb"}, "byte 0x0a at offset 1"},
		{"cmdline too long", Config{Kernel: kernel, Stub: stub, Cmdline: strings.Repeat("x", 2048)}, "2048 bytes, expected at most 2047"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := UKI(tt.c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("UKI: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestUKIObjdump has binutils (and LLVM, when installed) read the unified
// kernel image made from the real stub and kernel when present, else from
// the synthetic ones, and checks they list our sections where we put them.
func TestUKIObjdump(t *testing.T) {
	var tools []string
	for _, tool := range []string{"objdump", "llvm-objdump"} {
		if p, err := exec.LookPath(tool); err == nil {
			tools = append(tools, p)
		}
	}
	if len(tools) == 0 {
		t.Skip("neither objdump (binutils) nor llvm-objdump installed")
	}
	c := Config{Kernel: makeKernel("6.1.0-test"), Stub: makePE(peSpec{}), Initramfs: []byte("cpio"), Cmdline: "console=ttyS0"}
	if stub, err := os.ReadFile(DefaultStub); err == nil {
		c.Stub = stub
		t.Logf("using %s", DefaultStub)
	}
	if k, err := qemu.FindKernel(""); err == nil {
		if b, err := os.ReadFile(k); err == nil {
			c.Kernel = b
			t.Logf("using %s", k)
		}
	}
	uki, err := UKI(c)
	if err != nil {
		t.Fatal(err)
	}
	file := t.TempDir() + "/uki.efi"
	if err := os.WriteFile(file, uki, 0o644); err != nil {
		t.Fatal(err)
	}
	secs, _, err := readSections(uki)
	if err != nil {
		t.Fatal(err)
	}
	// "  9 .cmdline      0000000d  0000000000019600 ..." (objdump) or
	// "  9 .cmdline      0000000d 0000000000019600 DATA" (llvm-objdump).
	row := regexp.MustCompile(`(?m)^\s*\d+\s+(\.\w+)\s+([0-9a-f]{8})\s+([0-9a-f]{16})`)
	for _, tool := range tools {
		out, err := exec.Command(tool, "-h", file).CombinedOutput()
		if err != nil {
			t.Fatalf("%s -h: %v\n%s", tool, err, out)
		}
		if !strings.Contains(tool, "llvm") && !strings.Contains(string(out), "pei-x86-64") {
			t.Errorf("%s does not read the file as pei-x86-64:\n%s", tool, out)
		}
		got := map[string][2]uint64{}
		for _, m := range row.FindAllStringSubmatch(string(out), -1) {
			size, _ := strconv.ParseUint(m[2], 16, 64)
			vma, _ := strconv.ParseUint(m[3], 16, 64)
			got[m[1]] = [2]uint64{size, vma}
		}
		for _, s := range secs {
			g, ok := got[s.Name]
			if !ok {
				t.Errorf("%s does not list %s:\n%s", tool, s.Name, out)
				continue
			}
			if g[0] != uint64(s.Size) || g[1] != uint64(s.VirtualAddress) {
				t.Errorf("%s lists %s with size %#x at %#x, we wrote %#x at %#x", tool, s.Name, g[0], g[1], s.Size, s.VirtualAddress)
			}
		}
	}
}

func TestKernelRelease(t *testing.T) {
	for _, tt := range []struct{ version, want string }{
		{"6.1.0-26-amd64 (debian-kernel@lists.debian.org) #1 SMP", "6.1.0-26-amd64"},
		{"6.12.0", "6.12.0"},
	} {
		got, err := kernelRelease(makeKernel(tt.version))
		if err != nil || got != tt.want {
			t.Errorf("kernelRelease(%q) = %q, %v; want %q", tt.version, got, err, tt.want)
		}
	}
	k := makeKernel("bad\x01release")
	if _, err := kernelRelease(k); err == nil {
		t.Error("kernelRelease accepted a non-printable release")
	}
}

// FuzzAppendSections feeds arbitrary stubs to the section appender: it must
// not panic, and what it accepts must read back with the appended sections.
func FuzzAppendSections(f *testing.F) {
	f.Add(makePE(peSpec{}))
	f.Add(makePE(peSpec{trailer: []byte("symbols")}))
	f.Add(makePE(peSpec{headers: 0x200}))
	f.Fuzz(func(t *testing.T, stub []byte) {
		secs := []payload{{".cmdline", []byte("console=ttyS0")}, {".linux", []byte("kernel bytes")}}
		out, err := appendSections(stub, secs)
		if err != nil {
			return
		}
		_, data, err := readSections(out)
		if err != nil {
			t.Fatalf("appendSections output does not read back: %v", err)
		}
		for _, s := range secs {
			if !bytes.Equal(data[s.name], s.data) {
				t.Fatalf("section %s reads back as %q, want %q", s.name, data[s.name], s.data)
			}
		}
	})
}

// FuzzReadSections feeds arbitrary files to the PE section reader Inspect
// uses on the loader it finds in an image: errors, never panics.
func FuzzReadSections(f *testing.F) {
	f.Add(makePE(peSpec{}))
	uki, _ := UKI(Config{Kernel: makeKernel("6.1.0-test"), Stub: makePE(peSpec{}), Cmdline: "x"})
	f.Add(uki)
	f.Fuzz(func(t *testing.T, b []byte) {
		secs, data, err := readSections(b)
		if err != nil {
			return
		}
		for _, s := range secs {
			if int64(len(data[s.Name])) != s.Size || sha256Hex(data[s.Name]) != s.SHA256 {
				t.Fatalf("section %s: listed %d bytes %s, data %d bytes", s.Name, s.Size, s.SHA256, len(data[s.Name]))
			}
		}
	})
}
