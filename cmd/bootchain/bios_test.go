package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bootchain/bootchain/builderhex0"
	"github.com/bootchain/bootchain/qemu"
	"github.com/bootchain/bootchain/source"
)

// TestBIOSImage builds the fixture chain's --bios disk twice (the same
// bytes), boots it as a PC would (QEMU's BIOS, nothing else given; no
// console read), and checks the result the machine left on it with
// --result, without and with the length it printed, and that a changed
// byte in an output is named.
func TestBIOSImage(t *testing.T) {
	bin, err := qemu.FindQEMU("")
	if err != nil {
		t.Skipf("cannot boot builder-hex0: %v", err)
	}
	cache, err := source.CacheDir()
	if err != nil {
		t.Skip(err)
	}
	dir, err := builderhex0.SourceDir(context.Background(), os.Getenv("BOOTCHAIN_BUILDER_HEX0"), cache)
	if err != nil {
		t.Skipf("builder-hex0's source is not at hand: set BOOTCHAIN_BUILDER_HEX0 or run bootchain once with --source builder-hex0=DIR: %v", err)
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	fixture := filepath.Join("..", "..", "testdata", "chains", "fixture")
	srcs := sourceFlags{builderhex0.SourceName: dir}
	tmp := t.TempDir()
	var sums [2][32]byte
	for i, name := range []string{"a.img", "b.img"} {
		var out bytes.Buffer
		if err := buildBIOSImage(context.Background(), &out, fixture, "", false, srcs, filepath.Join(tmp, name)); err != nil {
			t.Fatal(err)
		}
		sums[i] = sha256.Sum256(head(t, filepath.Join(tmp, name)))
	}
	if sums[0] != sums[1] {
		t.Fatal("two builds of the same --bios disk differ")
	}
	img := filepath.Join(tmp, "a.img")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, builderhex0.Args(img, builderhex0.DefaultMemoryMiB, qemu.AccelTCG)...)
	var console bytes.Buffer
	cmd.Stdout = &console
	if err := cmd.Run(); err != nil {
		t.Fatalf("qemu: %v\n%s", err, console.String())
	}
	var out bytes.Buffer
	if err := checkBIOSResult(context.Background(), &out, fixture, "", false, sourceFlags{}, img, ""); err != nil {
		t.Fatalf("--result: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "4 steps verified") {
		t.Errorf("--result said:\n%s", out.String())
	}
	i := bytes.LastIndex(console.Bytes(), []byte("Build finished."))
	hexLen := strings.Fields(strings.ReplaceAll(string(console.Bytes()[i+len("Build finished."):]), "\r", ""))[0]
	out.Reset()
	if err := checkBIOSResult(context.Background(), &out, fixture, "", false, sourceFlags{}, img, hexLen); err != nil {
		t.Fatalf("--result --length %s: %v", hexLen, err)
	}
	if err := checkBIOSResult(context.Background(), &out, fixture, "", false, sourceFlags{}, img, "10"); err == nil {
		t.Errorf("--length 10: no error")
	}
	// A changed byte in bin/hex0 (the first output after the markers).
	b := head(t, img)
	j := bytes.Index(b, []byte(" out 2 1 /bin/hex0\n"))
	if j < 0 {
		t.Fatalf("no bin/hex0 frame in the result area")
	}
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	off := j + len(" out 2 1 /bin/hex0\n") + 8
	if _, err := f.WriteAt([]byte{b[off] ^ 1}, int64(off)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	err = checkBIOSResult(context.Background(), &out, fixture, "", false, sourceFlags{}, img, "")
	if err == nil || !strings.Contains(err.Error(), "step hex0") || !strings.Contains(err.Error(), "bin/hex0") {
		t.Errorf("changed byte: err = %v, expected one naming step hex0 and bin/hex0", err)
	}
}

// head returns the first 4 MiB of an image (the rest of the fixture's is
// zeros) and checks its size.
func head(t *testing.T, p string) []byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != builderhex0.DefaultImageSize {
		t.Fatalf("%s: size %v (%v), expected %d", p, fi.Size(), err, builderhex0.DefaultImageSize)
	}
	b := make([]byte, 4<<20)
	if _, err := io.ReadFull(f, b); err != nil {
		t.Fatal(err)
	}
	return b
}
