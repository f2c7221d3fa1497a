package builderhex0

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/bootchain/bootchain/qemu"
)

// WriteImageFile writes the disk image to path atomically (a temporary
// file in the same directory, synced, then renamed): what `bootchain image
// --bios` writes for a PC, byte for byte the disk the backend boots.
func WriteImageFile(path string, k Kernel, script []byte, size int64) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("builder-hex0: disk image: %w", err)
	}
	tmp.Close()
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	if err := WriteImage(tmp.Name(), k, script, size); err != nil {
		return err
	}
	f, err := os.OpenFile(tmp.Name(), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("builder-hex0: disk image: %w", err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fmt.Errorf("builder-hex0: disk image: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("builder-hex0: disk image: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("builder-hex0: disk image: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("builder-hex0: disk image: %w", err)
	}
	return nil
}

// Disk describes a builder-hex0 disk: one ready to boot, or one whose
// guest has written its result over it.
type Disk struct {
	Size int64
	// Boot is set for a disk ready to boot: the boot sector's and the
	// kernel source's SHA-256, and the script's length.
	Boot                       bool
	Stage1SHA256, Stage2SHA256 string
	ScriptBytes                int64
	// Result is set when sector 0 holds a result area instead.
	Result bool
}

// ErrNotDisk says a file is neither kind of builder-hex0 disk.
var ErrNotDisk = errors.New("not a builder-hex0 disk")

// Inspect reads what the disk at path holds.
func Inspect(path string) (*Disk, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	head := make([]byte, ScriptSector*SectorSize)
	n, err := f.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	head = head[:n]
	d := &Disk{Size: size}
	if bytes.HasPrefix(head, []byte("bootchain-frame ")) {
		d.Result = true
		return d, nil
	}
	if len(head) < ScriptSector*SectorSize || head[510] != 0x55 || head[511] != 0xAA || !bytes.HasPrefix(head[SectorSize:], []byte("#")) {
		return nil, fmt.Errorf("%s: %w (expected a boot sector ending in 55 AA, then builder-hex0's stage-2 hex0 source, or a result area)", path, ErrNotDisk)
	}
	d.Boot = true
	s1 := sha256.Sum256(head[:SectorSize])
	d.Stage1SHA256 = hex.EncodeToString(s1[:])
	stage2 := head[SectorSize:]
	if i := bytes.IndexByte(stage2, 0); i >= 0 {
		stage2 = stage2[:i]
	}
	s2 := sha256.Sum256(stage2)
	d.Stage2SHA256 = hex.EncodeToString(s2[:])
	buf := make([]byte, 1<<20)
	off := int64(ScriptSector * SectorSize)
	for {
		n, err := f.ReadAt(buf, off)
		if i := bytes.IndexByte(buf[:n], 0); i >= 0 {
			d.ScriptBytes = off + int64(i) - ScriptSector*SectorSize
			break
		}
		off += int64(n)
		if err != nil {
			d.ScriptBytes = off - ScriptSector*SectorSize
			break
		}
	}
	return d, nil
}

// ReadResult reads the result area at the start of the disk at path,
// written there by the guest of g on a machine whose console the host did
// not see (a PC): it ends at its done marker or at the begin marker of the
// step that failed. length, when not negative, is the length the machine
// printed (eight hex digits), which the area must have.
func ReadResult(path string, g qemu.Guest, length int64) (*Result, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	if length >= 0 {
		area := make([]byte, length)
		if _, err := io.ReadFull(f, area); err != nil {
			return nil, 0, fmt.Errorf("%w: the machine printed %d bytes, the disk has fewer: %v", ErrResult, length, err)
		}
		res, err := Decode(area, g)
		return res, length, err
	}
	// Without the length: read until the frames end (at most the disk).
	var area []byte
	buf := make([]byte, 1<<20)
	for {
		n, rerr := f.Read(buf)
		area = append(area, buf[:n]...)
		res, m, err := decode(area, g, false)
		if err == nil {
			return res, int64(m), nil
		}
		if rerr != nil || !errors.Is(err, ErrResult) || !strings.Contains(err.Error(), "cut short") {
			return nil, 0, err
		}
	}
}
