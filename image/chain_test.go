package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/initramfs"
	"github.com/bootchain/bootchain/qemu"
	"github.com/bootchain/bootchain/sandbox"
)

func loadChain(t *testing.T, dir string) *chain.Chain {
	t.Helper()
	c, err := chain.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestChainGuestSteps(t *testing.T) {
	c := loadChain(t, "../testdata/chains/fixture")
	for _, tc := range []struct {
		name       string
		until      string
		unverified bool
		notRun     map[string]string
		err        string
	}{
		{name: "default", notRun: map[string]string{"again": "in the unverified section; --unverified runs it"}},
		{name: "unverified", unverified: true, notRun: map[string]string{}},
		{name: "until", until: "kaem", notRun: map[string]string{"data": "after --until kaem", "hello": "after --until kaem", "again": "after --until kaem"}},
		{name: "until unverified", until: "again", unverified: true, notRun: map[string]string{}},
		{name: "until an unverified step", until: "again", err: "image: --until again: the step is in the unverified section; add --unverified to run it"},
		{name: "until nothing", until: "nope", err: "image: --until nope: chain fixture has no such step (it has hex0, kaem, data, hello, again)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := ChainGuest(context.Background(), ChainConfig{Chain: c, Until: tc.until, Unverified: tc.unverified, CacheDir: t.TempDir()})
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("ChainGuest: %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Steps) != len(c.Steps) {
				t.Fatalf("%d steps, want all %d", len(g.Steps), len(c.Steps))
			}
			for i, st := range g.Steps {
				if st.Name != c.Steps[i].Name || st.NotRun != tc.notRun[st.Name] {
					t.Errorf("step %d: %s not run %q, want %s not run %q", i, st.Name, st.NotRun, c.Steps[i].Name, tc.notRun[st.Name])
				}
			}
			if g.Digest() != c.Digest() {
				t.Errorf("guest digest %s, chain digest %s", g.Digest(), c.Digest())
			}
			if g.Kaem != "seeds/kaem-optional-seed" || g.Hex0 != "seeds/hex0-seed" {
				t.Errorf("seeds %s, %s", g.Kaem, g.Hex0)
			}
			for i, st := range g.Steps {
				if strings.Join(st.Env, " ") != strings.Join(c.Steps[i].Env, " ") || st.Dir != c.Steps[i].Dir {
					t.Errorf("step %s: dir %s env %q, want the chain's %s %q", st.Name, st.Dir, st.Env, c.Steps[i].Dir, c.Steps[i].Env)
				}
			}
		})
	}
}

// TestChainGuestSources checks that the guest root holds each pinned source
// file as pinned, and that a source file changed on disk is refused.
func TestChainGuestSources(t *testing.T) {
	src := loadChain(t, "../testdata/chains/fixture")
	g, err := ChainGuest(context.Background(), ChainConfig{Chain: src, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, e := range g.Files {
		have[e.EntryPath()] = true
	}
	for _, p := range []string{"seeds/hex0-seed", "seeds/kaem-optional-seed", "seeds/hex0.hex0", "seeds/kaem-minimal.hex0", "data.kaem", "hex/a.hex0"} {
		if !have[p] {
			t.Errorf("guest root lacks %s", p)
		}
	}

	dir := filepath.Join(t.TempDir(), "fx")
	if err := os.CopyFS(dir, os.DirFS("../testdata/chains/fixture")); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "src", "hex", "a.hex0")
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-2] ^= 1
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ChainGuest(context.Background(), ChainConfig{Chain: loadChain(t, dir), CacheDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "hex/a.hex0") || !strings.Contains(err.Error(), "dbdb7af794d6d500f8ec66cd9da90df74c9feb37964f4d0295b84321dac3ec9f") {
		t.Errorf("ChainGuest with a changed source file: %v, want an error naming hex/a.hex0 and its pin", err)
	}
}

// TestChainImageDeterministic builds the image Config of a chain twice and
// expects the same bytes, and the os-release fields read back.
func TestChainImageDeterministic(t *testing.T) {
	c := loadChain(t, "../testdata/chains/fixture")
	var first Config
	for i := range 2 {
		cfg, _, err := ChainImage(context.Background(), ChainConfig{Chain: c, CacheDir: t.TempDir(), End: qemu.EndPowerOff}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = cfg
			continue
		}
		if !bytes.Equal(cfg.Initramfs, first.Initramfs) || cfg.Cmdline != first.Cmdline || cfg.OSRelease != first.OSRelease {
			t.Errorf("two builds differ")
		}
	}
	for k, want := range map[string]string{
		FieldChain:  "fixture",
		FieldDigest: c.Digest(),
		FieldSteps:  "hex0 kaem data hello",
		FieldEnd:    "poweroff",
		"ID":        "bootchain",
		"NONE":      "",
	} {
		if got := ChainField(first.OSRelease, k); got != want {
			t.Errorf("ChainField(%s) = %q, want %q", k, got, want)
		}
	}
	if got := ChainField(`X="a \"b\" \$c \\ d"`, "X"); got != `a "b" $c \ d` {
		t.Errorf("ChainField unquotes to %q", got)
	}
	if got := osrelQuote(`a "b" $c`); ChainField("X="+got, "X") != `a "b" $c` {
		t.Errorf("osrelQuote round trip: %s", got)
	}
}

// TestChainGuestNative runs the fixture chain's guest root on the host, the
// kaem seed as pid 1 of a sandbox, as the machine would, but with init
// exiting at the end: the digest the guest computes from the hashes of the
// files it made must be chain.Digest, with the unverified step's pins taken
// as given (default) or every step run (--unverified).
func TestChainGuestNative(t *testing.T) {
	if err := sandbox.Available(); err != nil {
		t.Skipf("cannot run a guest root here: %v", err)
	}
	for _, tc := range []struct {
		chain      string
		unverified bool
		want       []string
		status     int
	}{
		{"../testdata/chains/fixture", false, []string{"4 steps verified", "step again: not run"}, 0},
		{"../testdata/chains/fixture", true, []string{"step 5/5 again: ran, unverified (1 output matches its pin, which proves nothing yet)", "4 steps verified", "1 step of the unverified section ran as well: not verified."}, 0},
		{"../testdata/chains/fixture-tampered", false, []string{"FAILED out/b", "MISMATCH in step data: out/b", "chain digest: not computed"}, 1},
	} {
		t.Run(filepath.Base(tc.chain)+map[bool]string{true: "-unverified"}[tc.unverified], func(t *testing.T) {
			c := loadChain(t, tc.chain)
			g, err := ChainGuest(context.Background(), ChainConfig{Chain: c, Unverified: tc.unverified, CacheDir: t.TempDir(), End: qemu.EndExit})
			if err != nil {
				t.Fatal(err)
			}
			g.Consoles = [2]string{"/console/serial", "/console/screen"}
			g.Files = append(g.Files, initramfs.File{Path: "console/serial"}, initramfs.File{Path: "console/screen"})
			console, status := runGuestRoot(t, g, time.Minute)
			t.Logf("console:\n%s", console)
			if status != tc.status {
				t.Errorf("the kaem seed (pid 1) exited %d, want %d", status, tc.status)
			}
			want := tc.want
			if tc.status == 0 {
				want = append(want, "  found     "+c.Digest()+"  /bootchain/all\n")
			}
			for _, w := range want {
				if !strings.Contains(console, w) {
					t.Errorf("console lacks %q", w)
				}
			}
		})
	}
}

// runGuestRoot writes g's root to a directory, runs its kaem seed there as
// pid 1 of a sandbox (for at most timeout) and returns what reached g's
// first console, and the exit status.
func runGuestRoot(t *testing.T, g *qemu.Standalone, timeout time.Duration) (string, int) {
	t.Helper()
	entries, err := g.Entries()
	if err != nil {
		t.Fatal(err)
	}
	if entries, err = initramfs.Plan(entries); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, e := range entries {
		p := filepath.Join(root, e.EntryPath())
		switch v := e.(type) {
		case initramfs.Dir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case initramfs.File:
			if err := os.WriteFile(p, v.Data, v.Mode|0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	var log bytes.Buffer
	err = sandbox.Run(context.Background(), sandbox.Config{Root: root, Argv: []string{"/" + g.Kaem}, Stdout: &log, Stderr: &log, Timeout: timeout})
	status := 0
	var ee *sandbox.ExitError
	switch {
	case errors.As(err, &ee):
		status = ee.Code
	case err != nil:
		t.Fatalf("%v\n%s", err, log.String())
	}
	b, err := os.ReadFile(filepath.Join(root, g.Consoles[0]))
	if err != nil {
		t.Fatal(err)
	}
	return string(b), status
}

// x86Config returns the x86 chain's image config, skipping unless
// BOOTCHAIN_STAGE0_POSIX names a stage0-posix 1.9.1 tree or archive.
func x86Config(t *testing.T) ChainConfig {
	tree := os.Getenv("BOOTCHAIN_STAGE0_POSIX")
	if tree == "" {
		t.Skip("set BOOTCHAIN_STAGE0_POSIX to a stage0-posix 1.9.1 tree or archive to run the x86 chain's guest (minutes natively, longer booted)")
	}
	// To mescc-tools-extra: the steps after full need more sources.
	return ChainConfig{Chain: loadChain(t, "x86"), Until: "full", Sources: map[string]string{"stage0-posix": tree}, CacheDir: t.TempDir()}
}

// verifiedLine is the summary's count of the steps g runs.
func verifiedLine(g *qemu.Standalone) string {
	n := 0
	for _, st := range g.Steps {
		if st.NotRun == "" {
			n++
		}
	}
	if n == len(g.Steps) {
		return fmt.Sprintf("all %d steps verified", n)
	}
	return fmt.Sprintf("\n%d steps verified", n)
}

// TestChainGuestX86 runs the x86 chain's guest root natively, the kaem
// seed as pid 1 of a sandbox: every step verified in the guest and the
// chain digest computed there.
func TestChainGuestX86(t *testing.T) {
	cc := x86Config(t)
	if err := sandbox.Available(); err != nil {
		t.Skipf("cannot run a guest root here: %v", err)
	}
	cc.End = qemu.EndExit
	g, err := ChainGuest(context.Background(), cc)
	if err != nil {
		t.Fatal(err)
	}
	g.Consoles = [2]string{"/console/serial", "/console/screen"}
	g.Files = append(g.Files, initramfs.File{Path: "console/serial"}, initramfs.File{Path: "console/screen"})
	start := time.Now()
	console, status := runGuestRoot(t, g, 45*time.Minute)
	t.Logf("native run: %v", time.Since(start).Round(time.Second))
	if i := strings.LastIndex(console, "bootchain summary"); i >= 0 {
		t.Logf("summary:\n%s", console[i:])
	}
	if status != 0 {
		t.Fatalf("the kaem seed (pid 1) exited %d", status)
	}
	wantInOrder(t, console, []string{verifiedLine(g), "  found     " + cc.Chain.Digest() + "  /bootchain/all\n"})
}

// TestBootChainImageX86 boots the x86 chain's image as a USB stick under
// OVMF with TCG, to mescc-tools-extra, with BOOTCHAIN_STAGE0_POSIX set and
// BOOTCHAIN_BOOT_X86=1 (it takes tens of minutes).
func TestBootChainImageX86(t *testing.T) {
	cc := x86Config(t)
	if os.Getenv("BOOTCHAIN_BOOT_X86") == "" {
		t.Skip("set BOOTCHAIN_BOOT_X86=1 (and BOOTCHAIN_STAGE0_POSIX) to boot the x86 chain's image under TCG (tens of minutes)")
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
	cfg, g, err := ChainImage(context.Background(), cc, kernel, stub)
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "usb.img")
	if err := Write(context.Background(), img, cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Hour)
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
	wantInOrder(t, r.console, []string{verifiedLine(g), "  found     " + cc.Chain.Digest() + "  /bootchain/all", "bootchain: OK. The machine powers off now.", "reboot: Power down"})
	if !r.exited {
		t.Errorf("QEMU did not exit: the guest did not power off")
	}
}

// FuzzChainField checks that any value without a line feed survives
// osrelQuote and ChainField, and that ChainField takes any text.
func FuzzChainField(f *testing.F) {
	f.Add("fixture", "ID=bootchain\nBOOTCHAIN_CHAIN=x86\n")
	f.Add(`a "b" $c \ d`, `X="unterminated`)
	f.Add("", "=\n==\n\"")
	f.Fuzz(func(t *testing.T, v, osrel string) {
		ChainField(osrel, "BOOTCHAIN_CHAIN")
		if strings.ContainsAny(v, "\n") {
			return
		}
		if got := ChainField("A=1\nX="+osrelQuote(v)+"\nB=2\n", "X"); got != v {
			t.Errorf("round trip of %q gives %q (quoted %s)", v, got, osrelQuote(v))
		}
	})
}
