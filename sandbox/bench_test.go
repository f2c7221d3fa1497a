package sandbox_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/bootchain/bootchain/sandbox"
	"golang.org/x/sys/unix"
)

// BenchmarkRun measures the cost of one sandboxed run of a program that
// exits at once: namespaces, init re-exec, pivot_root, exec, teardown.
func BenchmarkRun(b *testing.B) {
	requireSandbox(b)
	for _, arch := range probeArchs {
		b.Run(arch, func(b *testing.B) {
			root := newRoot(b, "", arch)
			cfg := sandbox.Config{Root: root, Argv: []string{"/bin/probe", "exit", "0"}}
			before := childCPU(b)
			for b.Loop() {
				if err := sandbox.Run(context.Background(), cfg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(childCPU(b)-before)/float64(b.N), "child-cpu-ns/op")
		})
	}
}

// BenchmarkExec is BenchmarkRun's baseline: the same program started
// with plain os/exec, no namespaces.
func BenchmarkExec(b *testing.B) {
	if probeErr != nil {
		b.Fatal(probeErr)
	}
	for _, arch := range probeArchs {
		b.Run(arch, func(b *testing.B) {
			probe := filepath.Join(probeDir, "probe-"+arch)
			before := childCPU(b)
			for b.Loop() {
				if err := exec.Command(probe, "exit", "0").Run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(childCPU(b)-before)/float64(b.N), "child-cpu-ns/op")
		})
	}
}

// BenchmarkBytes compares a step root on disk with one on tmpfs for the
// stage0 tools' workload: one write(2) per byte, then one read(2) per
// byte, 64 KiB each way. It reports wall and CPU (user + system, from
// the children's rusage) ns per byte, write + read; CPU time is the
// steadier figure on a loaded machine.
func BenchmarkBytes(b *testing.B) {
	requireSandbox(b)
	const n = 1 << 16
	for _, fsys := range []struct{ name, parent string }{{"disk", os.TempDir()}, {"tmpfs", "/dev/shm"}} {
		var st unix.Statfs_t
		if err := unix.Statfs(fsys.parent, &st); err != nil {
			b.Fatalf("statfs %s: %v", fsys.parent, err)
		}
		isTmpfs := st.Type == unix.TMPFS_MAGIC
		for _, mode := range []string{"sandbox", "plain"} {
			b.Run(fsys.name+"/"+mode, func(b *testing.B) {
				if isTmpfs != (fsys.name == "tmpfs") {
					b.Skipf("%s is not on %s", fsys.parent, fsys.name)
				}
				root := newRoot(b, fsys.parent, "386")
				before := childCPU(b)
				for b.Loop() {
					var err error
					if mode == "sandbox" {
						err = sandbox.Run(context.Background(), sandbox.Config{Root: root, Argv: []string{"/bin/probe", "bytes", strconv.Itoa(n), "/work/out"}})
					} else {
						err = exec.Command(filepath.Join(root, "bin", "probe"), "bytes", strconv.Itoa(n), filepath.Join(root, "work", "out")).Run()
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/byte")
				b.ReportMetric(float64(childCPU(b)-before)/float64(b.N)/n, "cpu-ns/byte")
			})
		}
	}
}

// childCPU is the user + system time of all waited-for children, in ns.
func childCPU(b *testing.B) int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_CHILDREN, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
