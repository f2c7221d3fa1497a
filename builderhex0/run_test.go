package builderhex0

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bootchain/bootchain/hex0"
	"github.com/bootchain/bootchain/initramfs"
	"github.com/bootchain/bootchain/qemu"
	"github.com/bootchain/bootchain/source"
)

// EachKernel runs f as a subtest for each kernel the backend boots:
// bootchain's own (embedded, so it runs wherever QEMU is, CI included) and
// upstream's builder-hex0 from BOOTCHAIN_BUILDER_HEX0 or the cache. Each
// subtest is skipped, saying why, without QEMU or without the kernel.
func EachKernel(t *testing.T, f func(t *testing.T, k Kernel)) {
	t.Helper()
	for _, name := range []string{KernelBootchain, KernelBuilderHex0} {
		t.Run(name, func(t *testing.T) {
			if _, err := qemu.FindQEMU(""); err != nil {
				t.Skipf("cannot boot a kernel: %v", err)
			}
			var k Kernel
			var err error
			if name == KernelBootchain {
				if k, err = BootchainKernel(); err != nil {
					t.Fatal(err)
				}
			} else {
				cache, cerr := source.CacheDir()
				if cerr != nil {
					t.Skipf("no cache: %v", cerr)
				}
				k, err = LoadKernel(context.Background(), os.Getenv("BOOTCHAIN_BUILDER_HEX0"), cache)
				if err != nil {
					t.Skipf("builder-hex0's source (commit %s) is not at hand: set BOOTCHAIN_BUILDER_HEX0 to a checkout or run bootchain once with --source builder-hex0=DIR: %v", Commit[:12], err)
				}
			}
			f(t, k)
		})
	}
}

// loopELF is the hex0 text of a 32-bit ELF whose only instruction jumps
// to itself: a guest program that never ends and prints nothing.
func loopELF() string {
	var b strings.Builder
	hdr := []byte{0x7f, 'E', 'L', 'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		2, 0, 3, 0, 1, 0, 0, 0, 0x54, 0x80, 0x04, 0x08, 0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0x34, 0, 0x20, 0, 1, 0, 0, 0, 0, 0, 0, 0,
		1, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x04, 0x08, 0, 0x80, 0x04, 0x08, 0x56, 0, 0, 0, 0x56, 0, 0, 0, 5, 0, 0, 0, 0, 0x10, 0, 0,
		0xeb, 0xfe}
	for _, c := range hdr {
		fmt.Fprintf(&b, "%02X ", c)
	}
	return b.String() + "\n"
}

func src(path, data string) string { return fmt.Sprintf("src %d %s\n%s", len(data), path, data) }

// TestGuestFailures boots scripts that go wrong in each way the host must
// name: no result, a result of the wrong length, a guest that hangs. Each
// is one error, and no QEMU is left running.
func TestGuestFailures(t *testing.T) {
	EachKernel(t, testGuestFailures)
}

func testGuestFailures(t *testing.T, k Kernel) {
	g := testGuest
	nonce := g.Nonce()
	hello := "bootchain-frame " + nonce + " hello\n"
	tests := []struct {
		name   string
		script string
		err    string
	}{
		{"no result", "src 0 /dev\n", "the guest wrote no result"},
		{"longer than its frames", "src 0 /dev\n" + src("/dev/hda", string(area(g, 2, "done", nil))+"trailing bytes"), "bytes after the done marker"},
		{"cut short", "src 0 /dev\n" + src("/dev/hda", hello+"bootchain-frame "+nonce+" begin 1\nbootchain-frame "+nonce+" end 1\n"), "cut short"},
		{"hangs", "src 0 /dev\n" + src("/loop.hex0", loopELF()) + "hex0 /loop.hex0 /loop\n/loop x\n", "the guest hangs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Accel: qemu.AccelTCG, IdleTimeout: 5 * time.Second, TempDir: t.TempDir()}
			err := runScript(context.Background(), k, []byte(tc.script), g, cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, expected one saying %q", err, tc.err)
			}
			if !errors.Is(err, ErrGuest) && !errors.Is(err, ErrResult) {
				t.Errorf("err = %v, expected it to wrap ErrGuest or ErrResult", err)
			}
			if strings.Count(err.Error(), "builder-hex0") > 2 {
				t.Errorf("err = %v: says builder-hex0 more than twice", err)
			}
			if out, _ := exec.Command("pgrep", "-f", cfg.TempDir).Output(); len(out) > 0 {
				t.Errorf("QEMU still running: pids %s", out)
			}
		})
	}
}

// TestStepFails: a step whose command fails ends the run with a
// *qemu.StepError naming it, after the steps before it were reported.
func TestStepFails(t *testing.T) {
	EachKernel(t, testStepFails)
}

func testStepFails(t *testing.T, k Kernel) {
	var files []initramfs.Entry
	for _, name := range hex0.Names {
		s, err := hex0.Build("x86", name)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, initramfs.File{Path: "seeds/" + name, Mode: 0o755, Data: s.Bytes})
	}
	files = append(files, initramfs.File{Path: "src/a.hex0", Data: []byte("41 42 0A # AB\n")}, initramfs.Dir{Path: "out"})
	g := qemu.Guest{Kaem: "seeds/kaem-optional-seed", Hex0: "seeds/hex0-seed", Arch: "x86", Key: "fails", Files: files,
		Steps: []qemu.GuestStep{
			{Name: "ok", Argv: []string{"/seeds/hex0-seed", "/src/a.hex0", "/out/a"}, Outputs: []string{"out/a"}},
			{Name: "broken", Argv: []string{"/seeds/hex0-seed", "/src/missing.hex0", "/out/b"}, Outputs: []string{"out/b"}},
			{Name: "after", Argv: []string{"/seeds/hex0-seed", "/src/a.hex0", "/out/c"}, Outputs: []string{"out/c"}},
		}}
	var got []string
	err := Run(context.Background(), k, g, Config{Accel: qemu.AccelTCG, IdleTimeout: time.Minute, TempDir: t.TempDir()}, func(e qemu.Event) error {
		switch e.Kind {
		case qemu.EventOutput:
			got = append(got, e.Output.Path+"="+string(e.Output.Data))
		case qemu.EventBegin, qemu.EventStepDone:
			got = append(got, e.Kind.String()+" "+e.Name)
		}
		return nil
	})
	var se *qemu.StepError
	if !errors.As(err, &se) || se.Step != "broken" {
		t.Fatalf("err = %v, expected a step error for step broken", err)
	}
	want := "begin ok|out/a=AB\n|step-done ok|begin broken"
	if strings.Join(got, "|") != want {
		t.Errorf("events %q, expected %q", strings.Join(got, "|"), want)
	}
}

// TestMissingOutput: an output the guest lacks (untar's symlinks on
// upstream's kernel, which has no symlink call) ends the result area after
// its out marker, and the host names it, also when the area is written in
// parts (over finishWords files), where the kaem seed stops at the part
// that failed and join.kaem still joins the parts before it.
func TestMissingOutput(t *testing.T) {
	EachKernel(t, testMissingOutput)
}

func testMissingOutput(t *testing.T, k Kernel) {
	var files []initramfs.Entry
	for _, name := range hex0.Names {
		s, err := hex0.Build("x86", name)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, initramfs.File{Path: "seeds/" + name, Mode: 0o755, Data: s.Bytes})
	}
	files = append(files, initramfs.File{Path: "src/a.hex0", Data: []byte("41 0A # A\n")}, initramfs.Dir{Path: "out"})
	// 700 outputs: 2104 files to join, so two parts; the missing one,
	// output 690, is in the second.
	var outs []string
	for i := range 699 {
		p := fmt.Sprintf("in/f%03d", i)
		files = append(files, initramfs.File{Path: p, Data: []byte{'a' + byte(i%26)}})
		outs = append(outs, p)
	}
	outs = slices.Insert(outs, 689, "in/missing")
	g := qemu.Guest{Kaem: "seeds/kaem-optional-seed", Hex0: "seeds/hex0-seed", Arch: "x86", Key: "missing", Files: files,
		Steps: []qemu.GuestStep{{Name: "many", Argv: []string{"/seeds/hex0-seed", "/src/a.hex0", "/out/a"}, Outputs: outs}}}
	if JoinScript(g) == nil {
		t.Fatal("JoinScript: nil, expected the area to be written in parts")
	}
	err := Run(context.Background(), k, g, Config{Accel: qemu.AccelTCG, IdleTimeout: time.Minute, TempDir: t.TempDir()}, nil)
	want := "step 1 (many): output 690 (/in/missing): the area ends at its out marker: the guest could not open the file"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, expected one saying %q", err, want)
	}
	if !errors.Is(err, ErrResult) {
		t.Errorf("err = %v, expected it to wrap ErrResult", err)
	}
}
