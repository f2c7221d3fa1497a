package qemu

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/bootchain/bootchain/verify"
)

// Under TCG a distribution kernel spends seconds decompressing itself before
// it prints a line. A kernel built with CONFIG_PVH can instead be booted as
// the uncompressed ELF inside its bzImage, through QEMU's PVH entry: the
// host unpacks it once, natively, and every boot skips the emulated
// decompression. pvhKernel does that unpacking.

var errNoPVH = errors.New("kernel cannot be booted through PVH")

// pvhKernel returns an uncompressed, PVH-bootable ELF of the bzImage at
// kernel, cached in cacheDir under the bzImage's SHA-256. Any reason the
// kernel cannot be unpacked (not a bzImage, an unsupported compression, no
// PVH entry note) is an error wrapping errNoPVH; the caller then boots the
// bzImage as it is.
func pvhKernel(kernel, cacheDir string) (string, error) {
	img, err := verify.ReadRegular(kernel, 0)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(img)
	cached := filepath.Join(cacheDir, "vmlinux-pvh-"+hex.EncodeToString(sum[:]))
	if _, err := os.Stat(cached); err == nil {
		return cached, nil
	}
	payload, err := bzPayload(img)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(cacheDir, ".vmlinux-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name()) // after the rename this removes nothing
	if err := decompress(payload, tmp); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := hasPVHNote(tmp.Name()); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), cached); err != nil {
		return "", err
	}
	return cached, nil
}

// bzPayload returns the compressed kernel inside a bzImage (boot protocol
// 2.08 or later: payload_offset and payload_length in the setup header).
func bzPayload(img []byte) ([]byte, error) {
	if len(img) < 0x250 || string(img[0x202:0x206]) != "HdrS" {
		return nil, fmt.Errorf("%w: not a bzImage (no HdrS setup header)", errNoPVH)
	}
	if v := binary.LittleEndian.Uint16(img[0x206:]); v < 0x208 {
		return nil, fmt.Errorf("%w: boot protocol %#x, expected 2.08 or later", errNoPVH, v)
	}
	setup := int(img[0x1F1])
	if setup == 0 {
		setup = 4
	}
	start := (setup + 1) * 512
	off := start + int(binary.LittleEndian.Uint32(img[0x248:]))
	n := int(binary.LittleEndian.Uint32(img[0x24C:]))
	if off < start || n <= 0 || off+n > len(img) {
		return nil, fmt.Errorf("%w: payload at %d+%d outside the %d-byte image", errNoPVH, off, n, len(img))
	}
	return img[off : off+n], nil
}

func decompress(payload []byte, w io.Writer) error {
	var r io.Reader
	switch {
	case bytes.HasPrefix(payload, []byte{0x1F, 0x8B}):
		z, err := gzip.NewReader(bytes.NewReader(payload))
		if err != nil {
			return fmt.Errorf("%w: gzip: %v", errNoPVH, err)
		}
		r = z
	case bytes.HasPrefix(payload, []byte("BZh")):
		r = bzip2.NewReader(bytes.NewReader(payload))
	case bytes.HasPrefix(payload, []byte{0xFD, '7', 'z', 'X', 'Z', 0}):
		return external("xz", payload, w)
	case bytes.HasPrefix(payload, []byte{0x28, 0xB5, 0x2F, 0xFD}):
		return external("zstd", payload, w)
	default:
		return fmt.Errorf("%w: unknown compression (magic % x)", errNoPVH, payload[:min(6, len(payload))])
	}
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("%w: %v", errNoPVH, err)
	}
	return nil
}

// external decompresses with the host's xz or zstd. The kernel's build
// appends the uncompressed size (4 bytes, little-endian) to these payloads;
// it is cut off before decompressing and checked after.
func external(tool string, payload []byte, w io.Writer) error {
	path, err := exec.LookPath(tool)
	if err != nil {
		return fmt.Errorf("%w: %s-compressed and no %s on the host", errNoPVH, tool, tool)
	}
	if len(payload) < 8 {
		return fmt.Errorf("%w: %d-byte %s payload", errNoPVH, len(payload), tool)
	}
	size := binary.LittleEndian.Uint32(payload[len(payload)-4:])
	cmd := exec.Command(path, "-dc")
	cmd.Stdin = bytes.NewReader(payload[:len(payload)-4])
	cw := &countWriter{w: w}
	cmd.Stdout = cw
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s -dc: %v: %s", errNoPVH, tool, err, bytes.TrimSpace(stderr.Bytes()))
	}
	if cw.n != int64(size) {
		return fmt.Errorf("%w: %s gave %d bytes, the image says %d", errNoPVH, tool, cw.n, size)
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// hasPVHNote checks for the Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY (18),
// which QEMU needs to boot an ELF kernel through PVH.
func hasPVHNote(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %v", errNoPVH, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		b, err := io.ReadAll(p.Open())
		if err != nil {
			return fmt.Errorf("%w: %v", errNoPVH, err)
		}
		for len(b) >= 12 {
			namesz := int(binary.LittleEndian.Uint32(b))
			descsz := int(binary.LittleEndian.Uint32(b[4:]))
			typ := binary.LittleEndian.Uint32(b[8:])
			nameEnd := 12 + (namesz+3)&^3
			end := nameEnd + (descsz+3)&^3
			if end > len(b) || namesz > len(b) {
				break
			}
			if typ == 18 && bytes.Equal(bytes.TrimRight(b[12:12+namesz], "\x00"), []byte("Xen")) {
				return nil
			}
			b = b[end:]
		}
	}
	return fmt.Errorf("%w: no PVH entry note (kernel built without CONFIG_PVH)", errNoPVH)
}
