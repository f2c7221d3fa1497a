package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bootchain/bootchain/image"
	"github.com/bootchain/bootchain/qemu"
)

// imageToolsAvailable says why an image cannot be built here, or nil.
func imageToolsAvailable() error {
	if _, err := qemu.FindKernel(""); err != nil {
		return err
	}
	_, err := image.FindStub("")
	return err
}

// TestImageWriteRefusesMountedDevice gives `bootchain image --write` a real
// block device with a mounted file system: a loop device over an ext4 file
// system mounted read-only in a temporary directory. It must be refused
// before any prompt, and nothing written to it.
func TestImageWriteRefusesMountedDevice(t *testing.T) {
	if err := imageToolsAvailable(); err != nil {
		t.Skipf("cannot build an image: %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to attach and mount a loop device")
	}
	for _, tool := range []string{"losetup", "mkfs.ext4", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	dir := t.TempDir()
	backing := filepath.Join(dir, "disk")
	if err := os.WriteFile(backing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(backing, 96<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", backing).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4: %v: %s", err, out)
	}
	out, err := exec.Command("losetup", "--find", "--show", backing).Output()
	if err != nil {
		t.Skipf("no loop device: %v", err)
	}
	loop := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "--detach", loop).Run() })
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	if out, err := exec.Command("mount", "-o", "ro", loop, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount %s: %v: %s", loop, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })

	img := filepath.Join(dir, "usb.img")
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"image", "--chain", "../../testdata/chains/fixture", "--out", img}, &stdout, &stderr); code != 0 {
		t.Fatalf("image: exit %d: %s", code, stderr.String())
	}
	before, err := os.ReadFile(backing)
	if err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	stdin = strings.NewReader("yes\n")
	defer func() { stdin = os.Stdin }()
	code := Main([]string{"image", "--write", loop, img}, &stdout, &stderr)
	t.Logf("stderr: %s", stderr.String())
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	want := "bootchain: image: " + loop + ": is mounted"
	if !strings.HasPrefix(stderr.String(), want) || !strings.Contains(stderr.String(), mnt) {
		t.Errorf("stderr %q, want it to start with %q and name %s", stderr.String(), want, mnt)
	}
	if strings.Contains(stderr.String(), "about to write") {
		t.Errorf("bootchain asked before refusing")
	}
	after, err := os.ReadFile(backing)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("the mounted device was written to")
	}
}

// TestImageWriteNeedsYes writes an image to a real, unmounted loop device:
// without "yes" nothing is written; with it the device holds the image,
// read back and checked.
func TestImageWriteNeedsYes(t *testing.T) {
	if err := imageToolsAvailable(); err != nil {
		t.Skipf("cannot build an image: %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to attach a loop device")
	}
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Skipf("needs losetup: %v", err)
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "usb.img")
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"image", "--chain", "../../testdata/chains/fixture", "--out", img}, &stdout, &stderr); code != 0 {
		t.Fatalf("image: exit %d: %s", code, stderr.String())
	}
	want, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	backing := filepath.Join(dir, "stick")
	if err := os.WriteFile(backing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(backing, int64(len(want))+(1<<20)); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", backing).Output()
	if err != nil {
		t.Skipf("no loop device: %v", err)
	}
	loop := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "--detach", loop).Run() })

	for _, answer := range []string{"", "no\n", "YES please\n"} {
		stdout.Reset()
		stderr.Reset()
		stdin = strings.NewReader(answer)
		code := Main([]string{"image", "--write", loop, img}, &stdout, &stderr)
		stdin = os.Stdin
		if code != 1 {
			t.Errorf("answer %q: exit status %d, want 1", answer, code)
		}
		for _, w := range []string{"about to write " + img, loop, "Everything on that disk will be lost.", "Type yes to write it: "} {
			if !strings.Contains(stderr.String(), w) {
				t.Errorf("answer %q: prompt lacks %q: %s", answer, w, stderr.String())
			}
		}
		if b, _ := os.ReadFile(backing); !bytes.Equal(b, make([]byte, len(b))) {
			t.Fatalf("answer %q: the device was written to", answer)
		}
	}

	stdout.Reset()
	stderr.Reset()
	stdin = strings.NewReader("yes\n")
	code := Main([]string{"image", "--write", loop, img}, &stdout, &stderr)
	stdin = os.Stdin
	if code != 0 {
		t.Fatalf("exit status %d: %s", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), loop+": written and read back, sha256 ") {
		t.Errorf("stdout %q", stdout.String())
	}
	got, err := os.ReadFile(backing)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:len(want)], want) {
		t.Errorf("the device does not start with the image")
	}
	// The stick reads back as the same image.
	stdout.Reset()
	if code := Main([]string{"verify-image", "--chain", "../../testdata/chains/fixture", loop}, &stdout, &stderr); code != 0 {
		t.Errorf("verify-image %s: exit %d: %s", loop, code, stderr.String())
	}
}
