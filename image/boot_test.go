package image

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bootchain/bootchain/initramfs"
	"github.com/bootchain/bootchain/qemu"
)

// bootMarker is what testdata/bootinit prints once the kernel has started it.
const bootMarker = "BOOTCHAIN-IMAGE-BOOTED"

// ovmfPairs are the firmware code and variable-store files of Debian's ovmf
// package, preferred first. The variable store is copied: OVMF writes to it.
var ovmfPairs = [][2]string{
	{"/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"},
	{"/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"},
}

func findOVMF() (code, vars string, err error) {
	for _, p := range ovmfPairs {
		if fileExists(p[0]) && fileExists(p[1]) {
			return p[0], p[1], nil
		}
	}
	return "", "", errors.New("no OVMF firmware in /usr/share/OVMF (apt-get install ovmf)")
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// bootTools returns what a real boot needs, or skips the test naming what is
// missing.
func bootTools(t *testing.T) (qemuBin, code, vars, kernel, stub string) {
	t.Helper()
	var missing []string
	qemuBin, err := qemu.FindQEMU("")
	if err != nil {
		missing = append(missing, err.Error())
	}
	code, vars, err = findOVMF()
	if err != nil {
		missing = append(missing, err.Error())
	}
	kernel, err = qemu.FindKernel(os.Getenv("BOOTCHAIN_KERNEL"))
	if err != nil {
		missing = append(missing, err.Error())
	}
	stub, err = FindStub("")
	if err != nil {
		missing = append(missing, err.Error())
	}
	if len(missing) > 0 {
		t.Skipf("cannot boot an image: %s", strings.Join(missing, "; "))
	}
	return qemuBin, code, vars, kernel, stub
}

// buildBootInit compiles testdata/bootinit as a static binary.
func buildBootInit(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "init")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./testdata/bootinit")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build testdata/bootinit: %v\n%s", err, b)
	}
	return out
}

// bootResult is what a boot of an image showed.
type bootResult struct {
	console bytes.Buffer             // the serial console
	seen    map[string]time.Duration // when each watched text first appeared, from QEMU's start
	screen  []byte                   // PPM screenshot taken when bootMarker appeared
}

// bootImage boots img from a USB stick on an xHCI controller under OVMF
// with TCG and returns once the guest powers off (or ctx ends). When the
// serial console shows bootMarker it takes a screenshot through the QEMU
// monitor, then sends the guest the line it waits for before powering off.
func bootImage(ctx context.Context, t *testing.T, qemuBin, code, vars, img string, watch []string) (*bootResult, error) {
	cmd, monitor, err := ovmfCommand(ctx, t, qemuBin, code, vars, img)
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &bootResult{seen: map[string]time.Duration{}}
	var shotErr error
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(&r.console, line)
		for _, w := range watch {
			if _, ok := r.seen[w]; !ok && strings.Contains(line, w) {
				r.seen[w] = time.Since(start)
			}
		}
		if strings.Contains(line, "press Enter to power off") {
			r.screen, shotErr = screendump(monitor, filepath.Join(filepath.Dir(monitor), "screen.ppm"))
			io.WriteString(in, "\n")
		}
	}
	err = cmd.Wait()
	switch {
	case ctx.Err() != nil:
		return r, fmt.Errorf("qemu: %w (stderr: %s)", ctx.Err(), stderr.String())
	case err != nil:
		return r, fmt.Errorf("qemu: %w (stderr: %s)", err, stderr.String())
	case shotErr != nil:
		return r, fmt.Errorf("screenshot: %w", shotErr)
	}
	return r, nil
}

// screendump asks the QEMU human monitor at socket for a screenshot and
// returns it (PPM). The monitor answers a command with its next prompt only
// after the command is done.
func screendump(socket, file string) ([]byte, error) {
	c, err := net.DialTimeout("unix", socket, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	prompt := func() error {
		var got []byte
		buf := make([]byte, 4096)
		for !bytes.Contains(got, []byte("(qemu) ")) {
			n, err := c.Read(buf)
			if err != nil {
				return fmt.Errorf("monitor: %w after %q", err, got)
			}
			got = append(got, buf[:n]...)
		}
		return nil
	}
	if err := prompt(); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(c, "screendump "+file+"\n"); err != nil {
		return nil, err
	}
	if err := prompt(); err != nil {
		return nil, err
	}
	return os.ReadFile(file)
}

// countPixels returns how many pixels of the binary PPM (P6, maxval 255)
// image have exactly the colour rgb.
func countPixels(ppm []byte, rgb [3]byte) (int, error) {
	var w, h, maxval int
	var magic string
	n, err := fmt.Sscan(string(ppm[:min(len(ppm), 64)]), &magic, &w, &h, &maxval)
	if err != nil || n != 4 || magic != "P6" || maxval != 255 {
		return 0, fmt.Errorf("not a P6 PPM with maxval 255: %q", ppm[:min(len(ppm), 20)])
	}
	// The header ends with the single whitespace byte after maxval.
	hdr := 0
	for fields := 0; hdr < len(ppm) && fields < 4; hdr++ {
		if ppm[hdr] == ' ' || ppm[hdr] == '\n' || ppm[hdr] == '\t' || ppm[hdr] == '\r' {
			fields++
		}
	}
	pix := ppm[hdr:]
	if len(pix) != 3*w*h {
		return 0, fmt.Errorf("PPM %dx%d has %d pixel bytes, expected %d", w, h, len(pix), 3*w*h)
	}
	count := 0
	for i := 0; i+3 <= len(pix); i += 3 {
		if pix[i] == rgb[0] && pix[i+1] == rgb[1] && pix[i+2] == rgb[2] {
			count++
		}
	}
	return count, nil
}

// TestBootUSBImageUnderOVMF writes a real image (Debian's kernel, systemd's
// stub, an initramfs whose /init is a static Go program) and boots it as a
// USB stick under OVMF with TCG: the firmware must find
// EFI/BOOT/BOOTX64.EFI, the stub must start the kernel with our command line
// and initramfs, and /init must print its marker (on serial and, checked by
// a screenshot, on the framebuffer) and power the machine off.
// BOOTCHAIN_KERNEL selects another kernel than the newest /boot/vmlinuz-*.
func TestBootUSBImageUnderOVMF(t *testing.T) {
	qemuBin, code, vars, kernelPath, stubPath := bootTools(t)
	dir := t.TempDir()
	initBin := buildBootInit(t, dir)

	var cpio bytes.Buffer
	entries := append(initramfs.DeviceNodes(),
		initramfs.Dir{Path: "proc"}, initramfs.Dir{Path: "sys"},
		initramfs.File{Path: "init", Mode: 0o755, HostPath: initBin})
	if err := initramfs.Write(&cpio, entries, initramfs.Options{Gzip: true}); err != nil {
		t.Fatal(err)
	}
	kernel, err := os.ReadFile(kernelPath)
	if err != nil {
		t.Fatal(err)
	}
	stub, err := os.ReadFile(stubPath)
	if err != nil {
		t.Fatal(err)
	}
	cmdline := "console=tty0 console=ttyS0 panic=-1"
	img := filepath.Join(dir, "usb.img")
	if err := Write(context.Background(), img, Config{Kernel: kernel, Stub: stub, Initramfs: cpio.Bytes(), Cmdline: cmdline}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	watch := []string{"BdsDxe: starting", "EFI stub:", "Linux version", "Run /init", bootMarker}
	r, err := bootImage(ctx, t, qemuBin, code, vars, img, watch)
	if r != nil {
		t.Logf("serial console:\n%s", r.console.String())
		for _, w := range watch {
			if d, ok := r.seen[w]; ok {
				t.Logf("%-24q after %v", w, d.Round(10*time.Millisecond))
			}
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.seen[bootMarker]; !ok {
		t.Fatalf("the guest powered off without printing %q", bootMarker)
	}
	for _, want := range []string{
		"bootinit: cmdline: " + cmdline,
		"bootinit: consoles: tty0 ttyS0",
		"bootinit: efi: 64",
		"bootinit: tty0 write: ok",
	} {
		if !strings.Contains(r.console.String(), want) {
			t.Errorf("serial console lacks %q", want)
		}
	}
	// The marker on the framebuffer is the only bright green (VT colour 10)
	// on the screen: 22 characters of an 8x16 font light a few hundred pixels.
	green, err := countPixels(r.screen, [3]byte{0x55, 0xff, 0x55})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("framebuffer: %d bright green pixels", green)
	if green < 200 {
		t.Errorf("framebuffer shows %d bright green pixels, expected the marker (hundreds)", green)
	}
}

// ovmfCommand returns the QEMU command that boots img as a USB stick under
// OVMF with TCG (serial console on stdio, a monitor socket for screenshots,
// no reboot), with a private copy of the firmware variables, and the path of
// the monitor socket.
func ovmfCommand(ctx context.Context, t *testing.T, qemuBin, code, vars, img string) (*exec.Cmd, string, error) {
	dir := t.TempDir()
	varsCopy := filepath.Join(dir, "OVMF_VARS.fd")
	b, err := os.ReadFile(vars)
	if err != nil {
		return nil, "", err
	}
	if err := os.WriteFile(varsCopy, b, 0o600); err != nil {
		return nil, "", err
	}
	monitor := filepath.Join(dir, "monitor.sock")
	cmd := exec.CommandContext(ctx, qemuBin,
		"-accel", "tcg",
		"-m", "1024",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+code,
		"-drive", "if=pflash,format=raw,unit=1,file="+varsCopy,
		"-device", "qemu-xhci",
		"-device", "usb-storage,drive=stick,removable=on",
		"-drive", "if=none,id=stick,format=raw,readonly=on,file="+img,
		"-display", "none", "-vga", "std",
		"-serial", "stdio",
		"-monitor", "unix:"+monitor+",server=on,wait=off",
		"-nic", "none",
		"-no-reboot",
	)
	cmd.WaitDelay = 5 * time.Second
	return cmd, monitor, nil
}
