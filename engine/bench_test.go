package engine

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/bootchain/bootchain/chain"
)

// BenchmarkX86VsChroot runs, in one benchmark, the same stage0-posix tree
// twice: directly in a chroot with upstream's own seeds and kaem.x86 (a
// copy of the tree on disk, as a user would), and with bootchain run
// (sandbox, cold cache, every output verified and re-derived), with step
// roots on tmpfs (the default) and on the disk. It reports wall and CPU
// times and the ratios bootchain/chroot. It needs root (chroot) and
// BOOTCHAIN_STAGE0_POSIX pointing at an unpacked 1.9.1 tree with its
// submodules; each iteration takes about ten minutes on two cores.
//
//	BOOTCHAIN_STAGE0_POSIX=/path/to/stage0-posix-1.9.1 go test ./engine -run '^$' -bench X86VsChroot -benchtime 1x
func BenchmarkX86VsChroot(b *testing.B) {
	tree := os.Getenv("BOOTCHAIN_STAGE0_POSIX")
	if tree == "" {
		b.Skip("set BOOTCHAIN_STAGE0_POSIX to an unpacked stage0-posix 1.9.1 tree to compare bootchain with a plain chroot")
	}
	if os.Geteuid() != 0 {
		b.Skip("the chroot baseline needs root")
	}
	if _, err := os.Stat(filepath.Join(tree, "kaem.x86")); err != nil {
		b.Skipf("BOOTCHAIN_STAGE0_POSIX must be an unpacked tree: %v", err)
	}
	c, err := chain.Load("x86")
	if err != nil {
		b.Fatal(err)
	}
	var direct, shm, disk timing
	for b.Loop() {
		dir := filepath.Join(b.TempDir(), "tree")
		if out, err := exec.Command("cp", "-a", tree, dir).CombinedOutput(); err != nil {
			b.Fatalf("cp: %v: %s", err, out)
		}
		cmd := exec.Command("chroot", ".", "./bootstrap-seeds/POSIX/x86/kaem-optional-seed")
		cmd.Dir, cmd.Env = dir, []string{}
		direct.measure(func() {
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("chroot run: %v\n%s", err, tail(out))
			}
		})
		// Step roots on tmpfs (the default) and on the disk.
		for _, t := range []struct {
			into *timing
			temp string
		}{{&shm, ""}, {&disk, b.TempDir()}} {
			o := Options{Chain: c, CacheDir: b.TempDir(), TempDir: t.temp, Sources: map[string]string{"stage0-posix": tree}, Until: "full"}
			t.into.measure(func() {
				if _, err := Run(context.Background(), o); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
	n := float64(b.N)
	b.ReportMetric(direct.wall.Seconds()/n, "chroot-s/op")
	b.ReportMetric(direct.cpu.Seconds()/n, "chroot-cpu-s/op")
	b.ReportMetric(shm.wall.Seconds()/n, "bootchain-s/op")
	b.ReportMetric(shm.cpu.Seconds()/n, "bootchain-cpu-s/op")
	b.ReportMetric(disk.wall.Seconds()/n, "bootchain-disk-s/op")
	b.ReportMetric(disk.cpu.Seconds()/n, "bootchain-disk-cpu-s/op")
	b.ReportMetric(shm.wall.Seconds()/direct.wall.Seconds(), "ratio")
	b.ReportMetric(shm.cpu.Seconds()/direct.cpu.Seconds(), "cpu-ratio")
}

// timing adds up wall time and CPU time (this process and its children:
// the steps are reaped here, so their time is counted) of measured calls.
// CPU time is the fairer comparison on a shared machine.
type timing struct {
	wall, cpu time.Duration
}

func (t *timing) measure(f func()) {
	cpu := func() time.Duration {
		var self, kids syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &self)
		syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
		d := func(tv syscall.Timeval) time.Duration { return time.Duration(tv.Nano()) }
		return d(self.Utime) + d(self.Stime) + d(kids.Utime) + d(kids.Stime)
	}
	c0, w0 := cpu(), time.Now()
	f()
	t.wall += time.Since(w0)
	t.cpu += cpu() - c0
}

func tail(b []byte) []byte {
	if len(b) > 4000 {
		return b[len(b)-4000:]
	}
	return b
}
