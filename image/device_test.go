package image

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCheckWritableRefusesOnThisHost runs the real check against real paths:
// a regular file, /dev/null, a directory, a missing path, and the disk that
// holds this machine's root file system.
func TestCheckWritableRefusesOnThisHost(t *testing.T) {
	file := filepath.Join(t.TempDir(), "usb.img")
	if err := os.WriteFile(file, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dev  string
		want error
	}{
		{file, ErrNotBlockDevice},
		{"/dev/null", ErrNotBlockDevice},
		{t.TempDir(), ErrNotBlockDevice},
		{filepath.Join(t.TempDir(), "missing"), fs.ErrNotExist},
	}
	if root, ok := rootDisk(t); ok {
		tests = append(tests, struct {
			dev  string
			want error
		}{root, ErrSystemDisk})
	} else {
		t.Log("root file system is not on a block device here (container?); system-disk case covered by the fake tree only")
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.dev), func(t *testing.T) {
			d, err := CheckWritable(tt.dev)
			if !errors.Is(err, tt.want) {
				t.Fatalf("CheckWritable(%s) = %v, %v; want error %v", tt.dev, d, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.dev) {
				t.Errorf("error %q does not name %s", err, tt.dev)
			}
			t.Log(err)
		})
	}
}

// rootDisk returns the /dev node of the whole disk that holds "/", found
// independently of CheckWritable: mountinfo's device number, then sysfs.
func rootDisk(t *testing.T) (string, bool) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || fields[4] != "/" {
			continue
		}
		p, err := filepath.EvalSymlinks("/sys/dev/block/" + fields[2])
		if err != nil {
			return "", false
		}
		if _, err := os.Stat(filepath.Join(p, "partition")); err == nil {
			p = filepath.Dir(p)
		}
		dev := "/dev/" + filepath.Base(p)
		var st unix.Stat_t
		if unix.Stat(dev, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK {
			return "", false
		}
		return dev, true
	}
	return "", false
}

// fakeHost builds a sysfs tree, a mountinfo and a swaps file describing a
// machine with these disks (major 8 unless noted):
//
//	sda      system disk: sda1 on /boot/efi, sda2 on /
//	sdb      USB stick, one unmounted partition: writable
//	sdc      sdc1 mounted on "/media/my stick"
//	sdd      sdd1 under dm-0, mounted on /home
//	sde      sde2 is active swap
//	sdf      read-only
//	sdg      card reader without a card (size 0)
//	sdh      sdh1 is btrfs: mountinfo shows an anonymous device number
//	sdi      sdi1 is in RAID md0, not mounted
//	sdj      sdj2 under dm-1, mounted on /
//	nvme0n1  NVMe disk, no partitions: writable
func fakeHost(t *testing.T) host {
	root := t.TempDir()
	sys := filepath.Join(root, "sys")
	nodes := map[string]struct {
		mode fs.FileMode
		rdev uint64
	}{
		"/dev/null":     {fs.ModeDevice | fs.ModeCharDevice, unix.Mkdev(1, 3)},
		"/tmp/usb.img":  {0, 0},
		"/dev/disk/dir": {fs.ModeDir, 0},
	}
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(p, target string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	block := func(dir, name string, maj, min uint32) {
		num := fmt.Sprintf("%d:%d", maj, min)
		write(filepath.Join(dir, "dev"), num)
		if err := os.MkdirAll(filepath.Join(dir, "holders"), 0o755); err != nil {
			t.Fatal(err)
		}
		link(filepath.Join(sys, "dev", "block", num), dir)
		link(filepath.Join(sys, "class", "block", name), dir)
		nodes["/dev/"+name] = struct {
			mode fs.FileMode
			rdev uint64
		}{fs.ModeDevice, unix.Mkdev(maj, min)}
	}
	type disk struct {
		name          string
		maj, min      uint32
		size, ro, rem string
		vendor, model string
		parts         []string // partition names; minor = disk minor + index + 1
	}
	disks := []disk{
		{"sda", 8, 0, "500118192", "0", "0", "ATA     ", "Samsung SSD 870 ", []string{"sda1", "sda2"}},
		{"sdb", 8, 16, "30529536", "0", "1", "SanDisk ", "Cruzer Blade    ", []string{"sdb1"}},
		{"sdc", 8, 32, "30529536", "0", "1", "Kingston", "DataTraveler 3.0", []string{"sdc1"}},
		{"sdd", 8, 48, "30529536", "0", "0", "", "", []string{"sdd1"}},
		{"sde", 8, 64, "30529536", "0", "0", "", "", []string{"sde1", "sde2"}},
		{"sdf", 8, 80, "30529536", "1", "1", "", "", nil},
		{"sdg", 8, 96, "0", "0", "1", "Generic-", "SD/MMC          ", nil},
		{"sdh", 8, 112, "30529536", "0", "0", "", "", []string{"sdh1"}},
		{"sdi", 8, 128, "30529536", "0", "0", "", "", []string{"sdi1"}},
		{"sdj", 8, 144, "30529536", "0", "0", "", "", []string{"sdj1", "sdj2"}},
		{"nvme0n1", 259, 0, "1953525168", "0", "0", "", "Samsung SSD 980 1TB", nil},
	}
	for _, d := range disks {
		dir := filepath.Join(sys, "devices", "pci0000:00", "block", d.name)
		block(dir, d.name, d.maj, d.min)
		write(filepath.Join(dir, "size"), d.size)
		write(filepath.Join(dir, "ro"), d.ro)
		write(filepath.Join(dir, "removable"), d.rem)
		if d.vendor != "" {
			write(filepath.Join(dir, "device", "vendor"), d.vendor)
		}
		if d.model != "" {
			write(filepath.Join(dir, "device", "model"), d.model)
		}
		for i, p := range d.parts {
			pdir := filepath.Join(dir, p)
			block(pdir, p, d.maj, d.min+uint32(i)+1)
			write(filepath.Join(pdir, "partition"), fmt.Sprint(i+1))
			write(filepath.Join(pdir, "size"), "2048")
		}
	}
	holder := func(part, name string, maj, min uint32) {
		dir := filepath.Join(sys, "devices", "virtual", "block", name)
		block(dir, name, maj, min)
		link(filepath.Join(sys, "class", "block", part, "holders", name), dir)
	}
	holder("sdd1", "dm-0", 253, 0)
	holder("sdi1", "md0", 9, 0)
	holder("sdj2", "dm-1", 253, 1)

	mountinfo := filepath.Join(root, "mountinfo")
	write(mountinfo, strings.Join([]string{
		`22 27 0:21 / /proc rw,relatime - proc proc rw`,
		`27 1 8:2 / / rw,relatime - ext4 /dev/sda2 rw`,
		`28 27 8:1 / /boot/efi rw,relatime - vfat /dev/sda1 rw`,
		`29 27 8:33 / /media/my\040stick rw,nosuid - vfat /dev/sdc1 rw`,
		`30 27 253:0 / /home rw,relatime - ext4 /dev/mapper/home rw`,
		`31 27 0:45 / /data rw,relatime - btrfs /dev/sdh1 rw`,
		`32 27 253:1 / / rw,relatime - ext4 /dev/mapper/root rw`,
	}, "\n"))
	swaps := filepath.Join(root, "swaps")
	write(swaps, "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/sde2 partition 1048572 0 -2\n/swapfile file 1048572 0 -3")

	return host{
		sys:       sys,
		mountinfo: mountinfo,
		swaps:     swaps,
		stat: func(p string) (fs.FileMode, uint64, error) {
			if n, ok := nodes[p]; ok {
				return n.mode, n.rdev, nil
			}
			return 0, 0, &fs.PathError{Op: "stat", Path: p, Err: fs.ErrNotExist}
		},
	}
}

// TestCheckWritableFakeMachine covers every refusal and the accepted case
// on a fake sysfs tree, mountinfo and swaps.
func TestCheckWritableFakeMachine(t *testing.T) {
	h := fakeHost(t)
	tests := []struct {
		dev       string
		want      error  // nil: accepted
		mention   string // in the error, or in Device.String() when accepted
		size      int64
		model     string
		removable bool
	}{
		{dev: "/dev/sda", want: ErrSystemDisk, mention: "sda2 on / (ext4)"},
		{dev: "/dev/sda1", want: ErrPartition, mention: "write to /dev/sda"},
		{dev: "/dev/sdb", mention: "SanDisk Cruzer Blade", size: 30529536 * 512, model: "SanDisk Cruzer Blade", removable: true},
		{dev: "/dev/sdc", want: ErrMounted, mention: "sdc1 on /media/my stick (vfat)"},
		{dev: "/dev/sdd", want: ErrMounted, mention: "dm-0 on /home"},
		{dev: "/dev/sde", want: ErrInUse, mention: "swap on sde2"},
		{dev: "/dev/sdf", want: errAny, mention: "read-only"},
		{dev: "/dev/sdg", want: errAny, mention: "no medium"},
		{dev: "/dev/sdh", want: ErrMounted, mention: "sdh1 on /data (btrfs)"},
		{dev: "/dev/sdi", want: ErrInUse, mention: "held by md0"},
		{dev: "/dev/sdj", want: ErrSystemDisk, mention: "dm-1 on /"},
		{dev: "/dev/nvme0n1", mention: "1000.2 GB", size: 1953525168 * 512, model: "Samsung SSD 980 1TB"},
		{dev: "/dev/null", want: ErrNotBlockDevice, mention: "character device"},
		{dev: "/tmp/usb.img", want: ErrNotBlockDevice, mention: "use --out"},
		{dev: "/dev/disk/dir", want: ErrNotBlockDevice, mention: "directory"},
		{dev: "/dev/sdz", want: fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.dev), func(t *testing.T) {
			d, err := h.checkWritable(tt.dev)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if d.Size != tt.size || d.Model != tt.model || d.Removable != tt.removable || d.Path != tt.dev {
					t.Errorf("got %+v, want size %d model %q removable %v", d, tt.size, tt.model, tt.removable)
				}
				if !strings.Contains(d.String(), tt.mention) {
					t.Errorf("prompt %q lacks %q", d, tt.mention)
				}
				t.Log(d)
				return
			}
			if err == nil {
				t.Fatalf("accepted %+v, want a refusal (%v)", d, tt.want)
			}
			if tt.want != errAny && !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q lacks %q", err, tt.mention)
			}
			t.Log(err)
		})
	}
}

// errAny marks a refusal without a sentinel error.
var errAny = errors.New("any error")

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		`/media/my\040stick`: "/media/my stick",
		`/a\011b\134c`:       "/a\tb\\c",
		`/plain`:             "/plain",
		`/trailing\04`:       `/trailing\04`,
		`/bad\999`:           `/bad\999`,
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestWriteDeviceRefusesFiles: WriteDevice runs CheckWritable first and
// leaves a regular file it refuses untouched.
func TestWriteDeviceRefusesFiles(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "usb.img")
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(img, []byte("image"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dev := range []string{target, "/dev/null"} {
		err := WriteDevice(context.Background(), img, dev, nil)
		if !errors.Is(err, ErrNotBlockDevice) {
			t.Errorf("WriteDevice to %s: %v, want ErrNotBlockDevice", dev, err)
		}
	}
	if b, _ := os.ReadFile(target); string(b) != "precious" {
		t.Errorf("refused target now holds %q", b)
	}
}

// TestCopyAndVerify exercises the copy WriteDevice does, on files standing
// in for the device: a device larger than the image keeps its tail, the
// read-back check passes, and catches a changed byte.
func TestCopyAndVerify(t *testing.T) {
	dir := t.TempDir()
	imgData := bytes.Repeat([]byte("0123456789abcdef"), (copyBlock+12345)/16)
	img := filepath.Join(dir, "usb.img")
	if err := os.WriteFile(img, imgData, 0o644); err != nil {
		t.Fatal(err)
	}
	devPath := filepath.Join(dir, "dev")
	if err := os.WriteFile(devPath, bytes.Repeat([]byte{0xff}, len(imgData)+1000), 0o644); err != nil {
		t.Fatal(err)
	}
	src, _ := os.Open(img)
	defer src.Close()
	dst, err := os.OpenFile(devPath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	var calls []int64
	if err := copyImage(context.Background(), dst, src, func(done, total int64) {
		calls = append(calls, done)
		if total != int64(len(imgData)) {
			t.Errorf("progress total %d, want %d", total, len(imgData))
		}
	}); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || calls[1] != int64(len(imgData)) {
		t.Errorf("progress calls %v, want two ending at %d", calls, len(imgData))
	}
	got, _ := os.ReadFile(devPath)
	if !bytes.Equal(got[:len(imgData)], imgData) || !bytes.Equal(got[len(imgData):], bytes.Repeat([]byte{0xff}, 1000)) {
		t.Fatal("device content is not the image followed by its old tail")
	}
	if err := verifyCopy(context.Background(), dst, src, nil); err != nil {
		t.Fatalf("verify after a good copy: %v", err)
	}
	if _, err := dst.WriteAt([]byte("X"), 100); err != nil {
		t.Fatal(err)
	}
	if err := verifyCopy(context.Background(), dst, src, nil); err == nil || !strings.Contains(err.Error(), "reads back") {
		t.Fatalf("verify after a changed byte: %v, want a mismatch", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := copyImage(ctx, dst, src, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("copy with a cancelled context: %v", err)
	}
}
