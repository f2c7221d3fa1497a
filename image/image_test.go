package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/bootchain/bootchain/qemu"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// fakeConfig is an image made only of synthetic parts, the same on every
// machine, so that its manifest can be a golden file.
func fakeConfig() Config {
	return Config{
		Kernel:    makeKernel("6.1.0-test (fake@example) #1 SMP"),
		Stub:      makePE(peSpec{trailer: []byte("symbol table")}),
		Initramfs: bytes.Repeat([]byte("070701 cpio "), 5000),
		Cmdline:   "console=tty0 console=ttyS0 panic=-1",
	}
}

func writeImage(t *testing.T, c Config) (string, []byte) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "usb.img")
	if err := Write(context.Background(), out, c); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return out, b
}

// TestWriteIsByteIdentical writes the same image twice, the second time
// with a different SOURCE_DATE_EPOCH in the environment and after the wall
// clock has moved past a FAT timestamp step (2 s), and compares the bytes:
// for the synthetic parts and, when installed, Debian's kernel and stub.
func TestWriteIsByteIdentical(t *testing.T) {
	configs := map[string]Config{"synthetic": fakeConfig()}
	if real, err := realConfig(); err == nil {
		configs["debian"] = real
	} else {
		t.Logf("only synthetic parts: %v", err)
	}
	first := map[string][]byte{}
	for name, c := range configs {
		_, first[name] = writeImage(t, c)
	}
	time.Sleep(2100 * time.Millisecond)
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	for name, c := range configs {
		_, b := writeImage(t, c)
		a := first[name]
		if !bytes.Equal(a, b) {
			for i := range min(len(a), len(b)) {
				if a[i] != b[i] {
					t.Fatalf("%s: images differ first at byte %#x (sector %d)", name, i, i/512)
				}
			}
			t.Fatalf("%s: images differ in length: %d and %d", name, len(a), len(b))
		}
		t.Logf("%s: two builds, %d bytes each, sha256 %s", name, len(a), sha256Hex(a))
	}
	if got := os.Getenv("SOURCE_DATE_EPOCH"); got != "1700000000" {
		t.Errorf("SOURCE_DATE_EPOCH is %q after Write, want the caller's value restored", got)
	}
}

// realConfig is an image of the host's kernel and systemd stub with a tiny
// initramfs, or an error naming what is missing.
func realConfig() (Config, error) {
	kp, err := qemu.FindKernel("")
	if err != nil {
		return Config{}, err
	}
	sp, err := FindStub("")
	if err != nil {
		return Config{}, err
	}
	k, err := os.ReadFile(kp)
	if err != nil {
		return Config{}, err
	}
	s, err := os.ReadFile(sp)
	if err != nil {
		return Config{}, err
	}
	return Config{Kernel: k, Stub: s, Initramfs: []byte("070701"), Cmdline: "console=ttyS0"}, nil
}

// TestInspectRoundTrip writes an image and reads back every part with its
// hash; the listing is a golden file (go test -update rewrites it), so a
// change in any byte of the image, including one from a new go-diskfs
// version, shows in review.
func TestInspectRoundTrip(t *testing.T) {
	c := fakeConfig()
	out, img := writeImage(t, c)
	m, err := Inspect(out)
	if err != nil {
		t.Fatal(err)
	}
	uki, err := UKI(c)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want Blob
	}{
		{"image", m.Image, blobOf(img)},
		{"loader", m.Loader, blobOf(uki)},
		{"kernel", m.Kernel, blobOf(c.Kernel)},
		{"initramfs", m.Initramfs, blobOf(c.Initramfs)},
		{"cmdline", m.CmdlineBlob, blobOf([]byte(c.Cmdline))},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %+v, want %+v", ch.what, ch.got, ch.want)
		}
	}
	if m.Cmdline != c.Cmdline || m.KernelRelease != "6.1.0-test" || m.OSRelease != DefaultOSRelease {
		t.Errorf("cmdline %q, release %q, os-release %q", m.Cmdline, m.KernelRelease, m.OSRelease)
	}
	if !slices.Equal(m.Files, []string{"EFI/BOOT/BOOTX64.EFI"}) {
		t.Errorf("files %q, want only the loader", m.Files)
	}
	if m.ESPStart != 2048 || m.ESPSectors*512 < minESP {
		t.Errorf("EFI system partition at sector %d, %d sectors; want 2048 and >= 64 MiB", m.ESPStart, m.ESPSectors)
	}
	golden := filepath.Join("testdata", "manifest.golden")
	got := m.String()
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("manifest differs from %s (go test -update rewrites it):\n%s", golden, got)
	}
}

// TestImageStructure reads the image with go-diskfs and dosfstools, checking
// what firmware relies on: protective MBR, GPT entry, FAT32 geometry,
// fixed timestamps, and a file system fsck.fat finds nothing wrong with.
func TestImageStructure(t *testing.T) {
	out, img := writeImage(t, fakeConfig())
	if img[510] != 0x55 || img[511] != 0xaa || img[446+4] != 0xee {
		t.Errorf("no protective MBR: signature % x, type %#02x", img[510:512], img[446+4])
	}
	if string(img[512:520]) != "EFI PART" {
		t.Errorf("no GPT header at sector 1: %q", img[512:520])
	}
	d, err := diskfs.Open(out, diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	pt, err := d.GetPartitionTable()
	if err != nil {
		t.Fatal(err)
	}
	tab := pt.(*gpt.Table)
	if len(tab.Partitions) != 1 || tab.Partitions[0].Type != gpt.EFISystemPartition || tab.Partitions[0].Start != 2048 {
		t.Fatalf("partitions %+v, want one EFI system partition at sector 2048", tab.Partitions)
	}
	p := tab.Partitions[0]
	if (p.End+1)%2048 != 0 {
		t.Errorf("partition ends at sector %d, want a MiB boundary", p.End)
	}
	bpb, err := parseFAT32(img[p.Start*512:])
	if err != nil {
		t.Fatal(err)
	}
	if bpb.HiddenSectors != uint32(p.Start) || uint64(bpb.TotalSectors) != p.End-p.Start+1 {
		t.Errorf("boot sector: hidden %d, total %d; want %d, %d", bpb.HiddenSectors, bpb.TotalSectors, p.Start, p.End-p.Start+1)
	}
	fsys, err := d.GetFilesystem(p.Index)
	if err != nil {
		t.Fatal(err)
	}
	if fsys.Type() != filesystem.TypeFat32 || strings.TrimSpace(fsys.Label()) != VolumeLabel {
		t.Errorf("file system %v labelled %q", fsys.Type(), fsys.Label())
	}
	for _, name := range []string{"EFI", "EFI/BOOT", "EFI/BOOT/BOOTX64.EFI"} {
		st, err := fsys.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Unix(fatEpoch, 0).UTC(); !st.ModTime().Equal(want) {
			t.Errorf("%s: modified %v, want %v", name, st.ModTime(), want)
		}
	}

	fsck, err := exec.LookPath("fsck.fat")
	if err != nil {
		t.Log("fsck.fat not installed (apt-get install dosfstools): skipping its check")
		return
	}
	part := filepath.Join(t.TempDir(), "esp.img")
	if err := os.WriteFile(part, img[p.Start*512:(p.End+1)*512], 0o644); err != nil {
		t.Fatal(err)
	}
	msg, err := exec.Command(fsck, "-n", "-v", part).CombinedOutput()
	if err != nil || bytes.Contains(msg, []byte("Fixing")) || bytes.Contains(msg, []byte("should be")) {
		t.Errorf("fsck.fat -n: %v\n%s", err, msg)
	}
}

// TestLayout checks the partition sizes Write picks: MiB multiples, at least
// 64 MiB, room for the loader, and never a size for which go-diskfs writes a
// FAT too short for its clusters (as it does for exactly 64 MiB).
func TestLayout(t *testing.T) {
	if fitsFAT(minESP / sectorSize) {
		t.Error("fitsFAT(64 MiB) = true; go-diskfs v1.9.4 writes 129024 FAT entries for 129024 clusters there (2 short)")
	}
	for _, n := range []int{0, 1, 8 << 20, 60 << 20, 100 << 20, 250 << 20, 300 << 20, 1 << 30} {
		size, start, sectors := layout(n)
		esp := sectors * sectorSize
		if start != 2048 || esp%mib != 0 || esp < minESP || esp < uint64(n)+uint64(n)/32 || !fitsFAT(sectors) {
			t.Errorf("layout(%d) = start %d, %d bytes ESP", n, start, esp)
		}
		if size != int64(mib+esp+mib) {
			t.Errorf("layout(%d): disk %d bytes, want 1 MiB + ESP + 1 MiB", n, size)
		}
	}
}

// TestFinishFAT32OnOddSizes writes FAT32 file systems of sizes around the
// cluster-size steps with go-diskfs directly and has finishFAT32 accept
// exactly those fitsFAT predicts.
func TestFinishFAT32OnOddSizes(t *testing.T) {
	for _, mb := range []uint64{64, 65, 260, 261} {
		sectors := mb * mib / sectorSize
		f, err := os.Create(filepath.Join(t.TempDir(), "disk"))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(int64(sectors * sectorSize)); err != nil {
			t.Fatal(err)
		}
		d, err := diskfs.Open(f.Name(), diskfs.WithOpenMode(diskfs.ReadWrite))
		if err != nil {
			t.Fatal(err)
		}
		err = withFATEpoch(func() error {
			_, err := d.CreateFilesystem(disk.FilesystemSpec{Partition: 0, FSType: filesystem.TypeFat32, Reproducible: true})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		err = finishFAT32(f, 0, sectors)
		if (err == nil) != fitsFAT(sectors) {
			t.Errorf("%d MiB: finishFAT32: %v; fitsFAT says %v", mb, err, fitsFAT(sectors))
		}
		f.Close()
	}
}

// TestInspectRejects gives Inspect files that are not our images.
func TestInspectRejects(t *testing.T) {
	dir := t.TempDir()
	good, img := writeImage(t, fakeConfig())
	_ = good
	mk := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noMBR := bytes.Clone(img)
	noMBR[446+4] = 0x83
	noLoader := bytes.Clone(img)
	// Damage the loader's name in the EFI/BOOT directory entry.
	if i := bytes.Index(noLoader, []byte("BOOTX64 EFI")); i > 0 {
		copy(noLoader[i:], "BOOTIA32EFI")
	} else {
		t.Fatal("no BOOTX64 EFI directory entry in the image")
	}
	notUKI := bytes.Clone(img)
	if i := bytes.Index(notUKI, []byte(".linux\x00\x00")); i > 0 {
		copy(notUKI[i:], ".notlnx")
	} else {
		t.Fatal("no .linux section header in the image")
	}
	for _, tt := range []struct{ name, file, want string }{
		{"missing", filepath.Join(dir, "missing.img"), "no such file"},
		{"empty", mk("empty.img", nil), ""},
		{"zeros", mk("zeros.img", make([]byte, 4<<20)), ""},
		{"no protective MBR", mk("nombr.img", noMBR), "no protective MBR"},
		{"no loader", mk("noloader.img", noLoader), "BOOTX64.EFI"},
		{"not a UKI", mk("notuki.img", notUKI), "no .linux section"},
		{"truncated", mk("trunc.img", img[:3<<20]), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Inspect(tt.file)
			if err == nil {
				t.Fatalf("Inspect accepted it: %v", m)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.file) {
				t.Errorf("error %q, want it to name %s and contain %q", err, tt.file, tt.want)
			}
			t.Log(err)
		})
	}
}

// TestWriteLeavesNothingOnFailure: a failed or cancelled Write creates no
// output and leaves no temporary file.
func TestWriteLeavesNothingOnFailure(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "usb.img")
	bad := fakeConfig()
	bad.Kernel = []byte("not a kernel")
	if err := Write(context.Background(), out, bad); err == nil {
		t.Fatal("Write accepted a bad kernel")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Write(ctx, out, fakeConfig()); err == nil {
		t.Fatal("Write ignored a cancelled context")
	}
	if err := Write(context.Background(), filepath.Join(dir, "no", "such", "dir.img"), fakeConfig()); err == nil {
		t.Fatal("Write into a missing directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("directory holds %d entries after failures, want none (first: %s)", len(entries), entries[0].Name())
	}
}

func TestDerivedGUID(t *testing.T) {
	a := derivedGUID("disk", sha256.Sum256([]byte("a")))
	if a != derivedGUID("disk", sha256.Sum256([]byte("a"))) {
		t.Error("same input, different GUIDs")
	}
	if a == derivedGUID("esp", sha256.Sum256([]byte("a"))) || a == derivedGUID("disk", sha256.Sum256([]byte("b"))) {
		t.Error("different inputs, same GUID")
	}
	raw, err := hex.DecodeString(strings.ReplaceAll(a, "-", ""))
	if err != nil || len(raw) != 16 || raw[6]>>4 != 4 || raw[8]>>6 != 2 {
		t.Errorf("GUID %s is not RFC 4122 version 4 variant 1", a)
	}
}

// FuzzParseFAT32 feeds arbitrary boot sectors to the geometry check: it
// must not panic, and what it accepts must be a consistent FAT32.
func FuzzParseFAT32(f *testing.F) {
	_, img := writeImageForSeed()
	if img != nil {
		f.Add(img[2048*512 : 2049*512])
	}
	f.Add(make([]byte, 512))
	f.Fuzz(func(t *testing.T, b []byte) {
		bpb, err := parseFAT32(b)
		if err != nil {
			return
		}
		c := uint64(bpb.Clusters())
		if c < 65525 || uint64(bpb.SectorsPerFAT)*uint64(bpb.BytesPerSector)/4 < c+2 {
			t.Fatalf("accepted %+v with %d clusters", bpb, c)
		}
		if binary.LittleEndian.Uint16(b[0x11:]) != 0 {
			t.Fatal("accepted a FAT12/16 root directory size")
		}
	})
}

// writeImageForSeed writes the fake image to a temporary directory for a
// fuzz seed, or returns nil.
func writeImageForSeed() (string, []byte) {
	dir, err := os.MkdirTemp("", "image-seed")
	if err != nil {
		return "", nil
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "usb.img")
	if err := Write(context.Background(), out, fakeConfig()); err != nil {
		return "", nil
	}
	b, _ := os.ReadFile(out)
	return out, b
}
