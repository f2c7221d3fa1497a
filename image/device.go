package image

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bootchain/bootchain/verify"
)

// Device is a whole disk that CheckWritable found safe to overwrite, with
// what a confirmation prompt should show.
type Device struct {
	Path      string // as given to CheckWritable
	Name      string // kernel name, e.g. "sdb"
	Size      int64  // bytes
	Model     string // vendor and model as the driver reports them; "" if none
	Removable bool   // the kernel's removable flag (many USB disks report false)
}

// String describes the device for a confirmation prompt:
// "/dev/sdb (sdb): 15.6 GB (15640559616 bytes), SanDisk Cruzer Blade, removable".
func (d *Device) String() string {
	model := d.Model
	if model == "" {
		model = "unknown model"
	}
	s := fmt.Sprintf("%s (%s): %.1f GB (%d bytes), %s", d.Path, d.Name, float64(d.Size)/1e9, d.Size, model)
	if d.Removable {
		s += ", removable"
	}
	return s
}

// Errors CheckWritable wraps, for callers that branch on the reason.
var (
	ErrNotBlockDevice = errors.New("not a block device")
	ErrPartition      = errors.New("is a partition, expected a whole disk")
	ErrMounted        = errors.New("is mounted")
	ErrSystemDisk     = errors.New("holds the running system")
	ErrInUse          = errors.New("is in use")
)

// CheckWritable checks that dev (e.g. /dev/sdb, or a /dev/disk/by-id link)
// is a whole-disk block device that may be overwritten with an image and
// returns its size and model for the confirmation prompt. It refuses a path
// that is not a block device (ErrNotBlockDevice), a partition
// (ErrPartition), a disk that holds / or /boot (ErrSystemDisk), a disk of
// which any part is mounted (ErrMounted) or used as swap or by device
// mapper, LVM or RAID (ErrInUse), a read-only disk and one with no medium.
//
// The checks read /proc/self/mountinfo, /proc/swaps and /sys; they cannot
// see mounts in other mount namespaces, so the prompt stays necessary.
func CheckWritable(dev string) (*Device, error) {
	return liveHost.checkWritable(dev)
}

// host is where CheckWritable looks; tests substitute a fake tree.
type host struct {
	sys       string // sysfs mount point
	mountinfo string
	swaps     string
	// stat returns the file type of path (following symbolic links) and,
	// for a device node, its device number.
	stat func(path string) (fs.FileMode, uint64, error)
}

var liveHost = host{
	sys:       "/sys",
	mountinfo: "/proc/self/mountinfo",
	swaps:     "/proc/swaps",
	stat: func(path string) (fs.FileMode, uint64, error) {
		var st unix.Stat_t
		if err := unix.Stat(path, &st); err != nil {
			return 0, 0, &fs.PathError{Op: "stat", Path: path, Err: err}
		}
		var m fs.FileMode
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFBLK:
			m = fs.ModeDevice
		case unix.S_IFCHR:
			m = fs.ModeDevice | fs.ModeCharDevice
		case unix.S_IFDIR:
			m = fs.ModeDir
		case unix.S_IFIFO:
			m = fs.ModeNamedPipe
		case unix.S_IFSOCK:
			m = fs.ModeSocket
		}
		return m, st.Rdev, nil
	},
}

// devno formats a device number as sysfs and mountinfo do: "8:16".
func devno(rdev uint64) string {
	return fmt.Sprintf("%d:%d", unix.Major(rdev), unix.Minor(rdev))
}

func (h host) checkWritable(dev string) (*Device, error) {
	fail := func(err error) (*Device, error) { return nil, fmt.Errorf("image: %s: %w", dev, err) }
	mode, rdev, err := h.stat(dev)
	if err != nil {
		return fail(err)
	}
	if mode&fs.ModeDevice == 0 || mode&fs.ModeCharDevice != 0 {
		return fail(fmt.Errorf("%w (it is %s)", ErrNotBlockDevice, describeMode(mode)))
	}
	sysdir, err := filepath.EvalSymlinks(filepath.Join(h.sys, "dev", "block", devno(rdev)))
	if err != nil {
		return fail(fmt.Errorf("block device %s not in sysfs: %w", devno(rdev), err))
	}
	name := filepath.Base(sysdir)
	if exists(filepath.Join(sysdir, "partition")) {
		return fail(fmt.Errorf("%w: partition %s of disk %s; write to /dev/%s", ErrPartition, name, filepath.Base(filepath.Dir(sysdir)), filepath.Base(filepath.Dir(sysdir))))
	}

	// Every device whose use means the disk is in use: the disk, its
	// partitions, and what is stacked on them (dm-crypt, LVM, RAID, ...).
	parts := map[string]string{devno(rdev): name} // device number -> name
	entries, _ := os.ReadDir(sysdir)
	for _, e := range entries {
		p := filepath.Join(sysdir, e.Name())
		if exists(filepath.Join(p, "partition")) {
			if n, err := readTrim(filepath.Join(p, "dev")); err == nil {
				parts[n] = e.Name()
			}
		}
	}
	holders := map[string]string{}
	var walk func(n string)
	walk = func(n string) {
		hs, _ := os.ReadDir(filepath.Join(h.sys, "class", "block", n, "holders"))
		for _, e := range hs {
			d, err := readTrim(filepath.Join(h.sys, "class", "block", e.Name(), "dev"))
			if err != nil || holders[d] != "" {
				continue
			}
			holders[d] = e.Name()
			walk(e.Name())
		}
	}
	for _, n := range sortedValues(parts) {
		walk(n)
	}
	uses := func(num string) (string, bool) {
		if n, ok := parts[num]; ok {
			return n, true
		}
		n, ok := holders[num]
		return n, ok
	}

	mounts, err := h.mountsOn(uses)
	if err != nil {
		return fail(err)
	}
	var system, other []string
	for _, m := range mounts {
		switch m.point {
		case "/", "/boot", "/boot/efi", "/efi", "/usr":
			system = append(system, m.String())
		default:
			other = append(other, m.String())
		}
	}
	if len(system) > 0 {
		return fail(fmt.Errorf("%w: %s", ErrSystemDisk, strings.Join(append(system, other...), ", ")))
	}
	if len(other) > 0 {
		return fail(fmt.Errorf("%w: %s; unmount first", ErrMounted, strings.Join(other, ", ")))
	}
	swaps, err := h.swapsOn(uses)
	if err != nil {
		return fail(err)
	}
	if len(swaps) > 0 {
		return fail(fmt.Errorf("%w: swap on %s; swapoff first", ErrInUse, strings.Join(swaps, ", ")))
	}
	if len(holders) > 0 {
		return fail(fmt.Errorf("%w: held by %s (device mapper, LVM or RAID)", ErrInUse, strings.Join(sortedValues(holders), ", ")))
	}

	d := &Device{Path: dev, Name: name}
	sectors, err := readTrim(filepath.Join(sysdir, "size"))
	if err != nil {
		return fail(err)
	}
	n, err := strconv.ParseInt(sectors, 10, 64)
	if err != nil || n < 0 {
		return fail(fmt.Errorf("size %q in sysfs, expected a number of 512-byte sectors", sectors))
	}
	if n == 0 {
		return fail(errors.New("has no medium (size 0)"))
	}
	d.Size = n * 512 // sysfs counts 512-byte units whatever the sector size
	if ro, _ := readTrim(filepath.Join(sysdir, "ro")); ro == "1" {
		return fail(errors.New("is read-only (write-protect switch?)"))
	}
	rem, _ := readTrim(filepath.Join(sysdir, "removable"))
	d.Removable = rem == "1"
	vendor, _ := readTrim(filepath.Join(sysdir, "device", "vendor"))
	model, _ := readTrim(filepath.Join(sysdir, "device", "model"))
	if strings.HasPrefix(vendor, "0x") || model == "" {
		vendor = "" // a PCI id (virtio), not a name
	}
	d.Model = strings.TrimSpace(vendor + " " + model)
	return d, nil
}

// mount is one line of mountinfo that uses the disk.
type mount struct{ point, fstype, via string }

func (m mount) String() string { return fmt.Sprintf("%s on %s (%s)", m.via, m.point, m.fstype) }

// mountsOn returns the mounts whose device the disk provides (uses reports
// which of its devices a device number is). It matches both the device
// number mountinfo lists and the mount source, since btrfs lists an
// anonymous device number.
func (h host) mountsOn(uses func(string) (string, bool)) ([]mount, error) {
	f, err := os.Open(h.mountinfo)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mount
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
		before, after, ok := strings.Cut(sc.Text(), " - ")
		fields, tail := strings.Fields(before), strings.Fields(after)
		if !ok || len(fields) < 5 || len(tail) < 2 {
			return nil, fmt.Errorf("%s: malformed line %q", h.mountinfo, sc.Text())
		}
		m := mount{point: unescapeMount(fields[4]), fstype: tail[0]}
		if n, ok := uses(fields[2]); ok {
			m.via = n
		} else if src := unescapeMount(tail[1]); strings.HasPrefix(src, "/") {
			if mode, rdev, err := h.stat(src); err == nil && mode&fs.ModeDevice != 0 && mode&fs.ModeCharDevice == 0 {
				if n, ok := uses(devno(rdev)); ok {
					m.via = n
				}
			}
		}
		if m.via != "" {
			out = append(out, m)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", h.mountinfo, err)
	}
	return out, nil
}

// swapsOn returns the names of the disk's devices that are active swap.
func (h host) swapsOn(uses func(string) (string, bool)) ([]string, error) {
	b, err := os.ReadFile(h.swaps)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // kernel without swap support
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for i, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) == 0 {
			continue // header
		}
		mode, rdev, err := h.stat(unescapeMount(f[0]))
		if err != nil || mode&fs.ModeDevice == 0 || mode&fs.ModeCharDevice != 0 {
			continue // a swap file: on a mounted file system, caught above
		}
		if n, ok := uses(devno(rdev)); ok {
			out = append(out, n)
		}
	}
	return out, nil
}

// unescapeMount undoes the octal escapes (\040 for a space) of mountinfo
// and /proc/swaps fields.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func describeMode(m fs.FileMode) string {
	switch {
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m.IsDir():
		return "a directory"
	case m.IsRegular():
		return "a regular file; to write an image file, use --out"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "not a device"
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func readTrim(p string) (string, error) {
	b, err := os.ReadFile(p)
	return strings.TrimSpace(string(b)), err
}

func sortedValues(m map[string]string) []string {
	var v []string
	for _, s := range m {
		v = append(v, s)
	}
	slices.Sort(v)
	return v
}

// WriteDevice copies the image file img onto the whole-disk device dev: it
// runs CheckWritable again, opens the device exclusively (the kernel then
// refuses a device that is mounted or in use, closing the gap after the
// check), writes in 4 MiB blocks, syncs, and reads the written bytes back to
// compare their SHA-256 with the image's. progress, when not nil, is called
// with the bytes done and the total while writing and again while verifying.
func WriteDevice(ctx context.Context, img, dev string, progress func(done, total int64)) error {
	if _, err := CheckWritable(dev); err != nil {
		return err
	}
	src, err := verify.OpenRegular(img)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	defer src.Close()
	dst, err := os.OpenFile(dev, os.O_WRONLY|os.O_EXCL, 0)
	if err != nil {
		return fmt.Errorf("image: %s: %w (mounted or in use?)", dev, err)
	}
	defer dst.Close()
	if err := copyImage(ctx, dst, src, progress); err != nil {
		return fmt.Errorf("image: write %s to %s: %w", img, dev, err)
	}
	if err := dst.Close(); err != nil {
		return fmt.Errorf("image: %s: %w", dev, err)
	}
	check, err := os.Open(dev)
	if err != nil {
		return fmt.Errorf("image: %s: %w", dev, err)
	}
	defer check.Close()
	if err := verifyCopy(ctx, check, src, progress); err != nil {
		return fmt.Errorf("image: verify %s against %s: %w", dev, img, err)
	}
	return nil
}

const copyBlock = 4 << 20

// copyImage writes all of src to the start of dst and syncs dst.
func copyImage(ctx context.Context, dst, src *os.File, progress func(done, total int64)) error {
	st, err := src.Stat()
	if err != nil {
		return err
	}
	total := st.Size()
	buf := make([]byte, copyBlock)
	var done int64
	for done < total {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := src.ReadAt(buf[:min(int64(len(buf)), total-done)], done)
		if err != nil && !(errors.Is(err, io.EOF) && int64(n) == total-done) {
			return fmt.Errorf("read at %d: %w", done, err)
		}
		if _, err := dst.WriteAt(buf[:n], done); err != nil {
			return fmt.Errorf("write at %d: %w", done, err)
		}
		done += int64(n)
		if progress != nil {
			progress(done, total)
		}
	}
	return dst.Sync()
}

// verifyCopy compares the SHA-256 of the first len(src) bytes of dst with
// that of src.
func verifyCopy(ctx context.Context, dst, src *os.File, progress func(done, total int64)) error {
	st, err := src.Stat()
	if err != nil {
		return err
	}
	total := st.Size()
	sum := func(f *os.File, report bool) (string, error) {
		h := sha256.New()
		buf := make([]byte, copyBlock)
		var done int64
		for done < total {
			if err := ctx.Err(); err != nil {
				return "", err
			}
			n, err := f.ReadAt(buf[:min(int64(len(buf)), total-done)], done)
			if err != nil && !(errors.Is(err, io.EOF) && int64(n) == total-done) {
				return "", fmt.Errorf("read %s at %d: %w", f.Name(), done, err)
			}
			h.Write(buf[:n])
			done += int64(n)
			if report && progress != nil {
				progress(done, total)
			}
		}
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	want, err := sum(src, false)
	if err != nil {
		return err
	}
	got, err := sum(dst, true)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("device reads back sha256 %s, image is %s", got, want)
	}
	return nil
}
