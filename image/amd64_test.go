package image

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bootchain/bootchain/initramfs"
	"github.com/bootchain/bootchain/qemu"
	"github.com/bootchain/bootchain/sandbox"
)

// amd64Config returns the amd64 chain's image config, skipping unless
// BOOTCHAIN_STAGE0_POSIX names a stage0-posix 1.9.1 tree or archive.
func amd64Config(t *testing.T) ChainConfig {
	tree := os.Getenv("BOOTCHAIN_STAGE0_POSIX")
	if tree == "" {
		t.Skip("set BOOTCHAIN_STAGE0_POSIX to a stage0-posix 1.9.1 tree or archive to run the amd64 chain's guest (a minute natively, longer booted)")
	}
	return ChainConfig{Chain: loadChain(t, "amd64"), Sources: map[string]string{"stage0-posix": tree}, CacheDir: t.TempDir()}
}

// TestChainGuestAMD64 runs the amd64 chain's guest root natively, the AMD64
// kaem seed as pid 1 of a sandbox reading kaem.amd64: every step verified
// in the guest and the chain digest computed there.
func TestChainGuestAMD64(t *testing.T) {
	cc := amd64Config(t)
	if err := sandbox.Available(); err != nil {
		t.Skipf("cannot run a guest root here: %v", err)
	}
	cc.End = qemu.EndExit
	g, err := ChainGuest(context.Background(), cc)
	if err != nil {
		t.Fatal(err)
	}
	if g.Script != "kaem.amd64" {
		t.Errorf("boot script %q, want kaem.amd64, which the AMD64 kaem seed reads", g.Script)
	}
	g.Consoles = [2]string{"/console/serial", "/console/screen"}
	g.Files = append(g.Files, initramfs.File{Path: "console/serial"}, initramfs.File{Path: "console/screen"})
	start := time.Now()
	console, status := runGuestRoot(t, g, 20*time.Minute)
	t.Logf("native run: %v", time.Since(start).Round(time.Second))
	if i := strings.LastIndex(console, "bootchain summary"); i >= 0 {
		t.Logf("summary:\n%s", console[i:])
	}
	if status != 0 {
		t.Fatalf("the kaem seed (pid 1) exited %d", status)
	}
	wantInOrder(t, console, []string{"all 3 steps verified", "  found     " + cc.Chain.Digest() + "  /bootchain/all\n"})
}

// TestBootChainImageAMD64 boots the amd64 chain's image as a USB stick
// under OVMF with TCG, with BOOTCHAIN_STAGE0_POSIX set and
// BOOTCHAIN_BOOT_AMD64=1 (about ten minutes here).
func TestBootChainImageAMD64(t *testing.T) {
	cc := amd64Config(t)
	if os.Getenv("BOOTCHAIN_BOOT_AMD64") == "" {
		t.Skip("set BOOTCHAIN_BOOT_AMD64=1 (and BOOTCHAIN_STAGE0_POSIX) to boot the amd64 chain's image under TCG (about ten minutes)")
	}
	qemuBin, code, vars, kernelPath, stubPath := bootTools(t)
	kernel, err := os.ReadFile(kernelPath)
	if err != nil {
		t.Fatal(err)
	}
	stub, err := os.ReadFile(stubPath)
	if err != nil {
		t.Fatal(err)
	}
	cc.End = qemu.EndPowerOff
	cfg, _, err := ChainImage(context.Background(), cc, kernel, stub)
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "usb.img")
	if err := Write(context.Background(), img, cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	r, err := bootChainImage(ctx, t, qemuBin, code, vars, img)
	if r != nil {
		t.Logf("QEMU ran %v (exited by itself: %v)", r.duration.Round(time.Second), r.exited)
		if i := strings.LastIndex(r.console, "bootchain summary"); i >= 0 {
			t.Logf("summary:\n%s", r.console[i:])
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	wantInOrder(t, r.console, []string{"all 3 steps verified", "  found     " + cc.Chain.Digest() + "  /bootchain/all", "bootchain: OK. The machine powers off now.", "reboot: Power down"})
	if !r.exited {
		t.Errorf("QEMU did not exit: the guest did not power off")
	}
}
