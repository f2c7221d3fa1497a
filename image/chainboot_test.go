package image

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/qemu"
)

// chainBoot is what one boot of a chain image showed.
type chainBoot struct {
	console  string        // the serial console
	exited   bool          // QEMU exited by itself (the guest powered off)
	screen   []byte        // PPM screenshot taken at haltText, if asked for
	duration time.Duration // from QEMU's start to its exit or the halt
}

// haltText is what the kernel prints once reboot(LINUX_REBOOT_CMD_HALT)
// has stopped the machine.
const haltText = "reboot: System halted"

// bootChainImage boots img as a USB stick under OVMF with TCG. It returns
// when QEMU exits (a guest that powers off), or, once the serial console
// shows haltText, after taking a screenshot, or when the console shows a
// kernel panic, killing QEMU in both cases.
func bootChainImage(ctx context.Context, t *testing.T, qemuBin, code, vars, img string) (*chainBoot, error) {
	cmd, monitor, err := ovmfCommand(ctx, t, qemuBin, code, vars, img)
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &chainBoot{}
	var console strings.Builder
	var stopErr error
	killed := false
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(&console, line)
		switch {
		case strings.Contains(line, "Kernel panic"):
			stopErr = fmt.Errorf("kernel panic: %s", line)
		case strings.Contains(line, haltText):
			r.duration = time.Since(start)
			r.screen, stopErr = screendump(monitor, filepath.Join(filepath.Dir(monitor), "screen.ppm"))
		default:
			continue
		}
		killed = true
		cmd.Process.Kill()
		break
	}
	scanErr := sc.Err()
	err = cmd.Wait()
	r.console = console.String()
	if !killed {
		r.duration = time.Since(start)
	}
	switch {
	case ctx.Err() != nil:
		return r, fmt.Errorf("qemu: %w (stderr: %s)", ctx.Err(), stderr.String())
	case stopErr != nil:
		return r, stopErr
	case killed:
		return r, nil
	case err != nil:
		return r, fmt.Errorf("qemu: %w (stderr: %s)", err, stderr.String())
	case scanErr != nil:
		return r, scanErr
	}
	r.exited = true
	return r, nil
}

// buildChainImage writes the image of the chain in dir (relative to the
// repository) with end as the guest's last act.
func buildChainImage(t *testing.T, chainDir string, end qemu.End, kernelPath, stubPath string) (img string, c *chain.Chain, g *qemu.Standalone) {
	t.Helper()
	c, err := chain.Load(chainDir)
	if err != nil {
		t.Fatal(err)
	}
	g, err = ChainGuest(context.Background(), ChainConfig{Chain: c, CacheDir: t.TempDir(), End: end})
	if err != nil {
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
	cfg, g2, err := ChainImage(context.Background(), ChainConfig{Chain: c, CacheDir: t.TempDir(), End: end}, kernel, stub)
	if err != nil {
		t.Fatal(err)
	}
	if g2.Digest() != g.Digest() {
		t.Fatalf("ChainImage's guest has digest %s, ChainGuest's %s", g2.Digest(), g.Digest())
	}
	img = filepath.Join(t.TempDir(), "usb.img")
	if err := Write(context.Background(), img, cfg); err != nil {
		t.Fatal(err)
	}
	return img, c, g
}

// wantInOrder reports each of want that console lacks, searching each
// after the one before.
func wantInOrder(t *testing.T, console string, want []string) {
	t.Helper()
	rest := console
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Errorf("serial console lacks %q (after what came before it)", w)
			continue
		}
		rest = rest[i+len(w):]
	}
}

// TestBootChainImage builds the image of the fixture chain, boots it as a
// USB stick under OVMF with TCG, and reads the result as a person would:
// every step verified on the machine itself, the chain digest (equal to
// chain.Digest, what `bootchain plan` prints) on the serial console, the
// verdict on the screen (a screenshot), and the machine halted, not
// panicked. The tampered twin must name the step, the file and both hashes,
// and power the machine off, which ends QEMU.
func TestBootChainImage(t *testing.T) {
	qemuBin, code, vars, kernelPath, stubPath := bootTools(t)
	for _, tc := range []struct {
		chain string
		end   qemu.End
		want  func(c *chain.Chain) []string
		not   []string
	}{
		{
			chain: "../testdata/chains/fixture",
			end:   qemu.EndHalt,
			want: func(c *chain.Chain) []string {
				w := []string{"bootchain: chain fixture: offline fixture"}
				for _, s := range []string{"1/4 hex0", "2/4 kaem", "3/4 data", "4/4 hello"} {
					w = append(w, "step "+s+": started")
				}
				w = append(w, "OK out/hello.txt", "OK /bootchain/all", "bootchain summary: chain fixture")
				w = append(w,
					"step 1/4 hex0: ok, 1 output matches its pin",
					"step 2/4 kaem: ok, 1 output matches its pin",
					"step 3/4 data: ok, 3 outputs match their pins",
					"step 4/4 hello: ok, 1 output matches its pin",
					"step again: not run (in the unverified section; --unverified runs it)",
					"4 steps verified",
					"  found     "+c.Digest()+"  /bootchain/all",
				)
				for i, g := range qemu.DigestGroups(c.Digest()) {
					w = append(w, fmt.Sprintf("    %d   \x1b[1;37m%s", i+1, g))
				}
				return append(w, "bootchain: OK. The machine halts now", haltText)
			},
			not: []string{"FAILED", "MISMATCH"},
		},
		{
			// The AMD64 seeds: the kaem seed reads kaem.amd64 as init.
			chain: "../testdata/chains/fixture-amd64",
			end:   qemu.EndPowerOff,
			want: func(c *chain.Chain) []string {
				return []string{
					"bootchain: chain fixture-amd64: offline fixture: the amd64 seeds",
					"step 1/4 hex0: started",
					"OK bin/hex0",
					"OK out/hello.txt",
					"step 4/4 hello: ok, 1 output matches its pin",
					"4 steps verified",
					"  found     " + c.Digest() + "  /bootchain/all",
					"bootchain: OK. The machine powers off now",
					"reboot: Power down",
				}
			},
			not: []string{"FAILED", "MISMATCH"},
		},
		{
			chain: "../testdata/chains/fixture-tampered",
			end:   qemu.EndPowerOff,
			want: func(c *chain.Chain) []string {
				return []string{
					"step 3/4 data: started",
					"OK out/a",
					"FAILED out/b sha256 39bf87566f53343b870427138f09266ead77a082bac480fd1c3552287ff0276e expected b3bf41e0c0d829af209679a12e430a7634b5f3736cc297654c060382b810631c",
					"bootchain summary: chain fixture-tampered",
					"step 2/4 kaem: ok",
					"step 3/4 data: failed: out/b is not the pinned file",
					"step 4/4 hello: not run",
					"MISMATCH in step data: out/b",
					"  expected  b3bf41e0c0d829af209679a12e430a7634b5f3736cc297654c060382b810631c  out/b",
					"  found     39bf87566f53343b870427138f09266ead77a082bac480fd1c3552287ff0276e  out/b",
					"chain digest: not computed, since a step failed.",
					"bootchain: FAILED. The machine powers off now.",
					"reboot: Power down",
				}
			},
			not: []string{"step 3/4 data: ok", "step 4/4 hello: started", "OK /bootchain/all"},
		},
	} {
		t.Run(filepath.Base(tc.chain), func(t *testing.T) {
			t.Parallel()
			img, c, g := buildChainImage(t, tc.chain, tc.end, kernelPath, stubPath)
			if g.Digest() != c.Digest() {
				t.Fatalf("guest digest %s, chain digest %s", g.Digest(), c.Digest())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
			defer cancel()
			r, err := bootChainImage(ctx, t, qemuBin, code, vars, img)
			if r != nil {
				t.Logf("serial console:\n%s", r.console)
				t.Logf("QEMU ran %v (exited by itself: %v)", r.duration.Round(100*time.Millisecond), r.exited)
			}
			if err != nil {
				t.Fatal(err)
			}
			wantInOrder(t, r.console, tc.want(c))
			for _, n := range tc.not {
				if strings.Contains(r.console, n) {
					t.Errorf("serial console shows %q", n)
				}
			}
			if strings.Contains(r.console, "Kernel panic") || strings.Contains(r.console, "Attempted to kill init") {
				t.Errorf("the kernel panicked")
			}
			switch tc.end {
			case qemu.EndPowerOff:
				if !r.exited {
					t.Errorf("QEMU did not exit: the guest did not power off")
				}
			case qemu.EndHalt:
				// The verdict on the screen is the only bright green there.
				green, err := countPixels(r.screen, [3]byte{0x55, 0xff, 0x55})
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("framebuffer: %d bright green pixels", green)
				if green < 300 {
					t.Errorf("framebuffer shows %d bright green pixels, expected the verdict line (hundreds)", green)
				}
			}
		})
	}
}
