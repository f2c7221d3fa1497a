package builderhex0

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/bootchain/bootchain/qemu"
)

// TestKernelSyscalls boots bootchain's kernel on testdata/syscalls.S, a
// program that checks the calls the fixture chain does not use (mkdir,
// lseek, O_EXCL, symlink, chdir, access, getcwd, unlink, brk, fork and
// waitpid's status, ENOSYS) and reports each on /dev/hda. The shell loads
// it as hex0 and assembles it with its own hex0 command.
func TestKernelSyscalls(t *testing.T) {
	if _, err := qemu.FindQEMU(""); err != nil {
		t.Skipf("cannot boot a kernel: %v", err)
	}
	for _, tool := range []string{"as", "ld"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("binutils for i386 are not installed (%s: %v); .ci/run installs them", tool, err)
		}
	}
	k, err := BootchainKernel()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	obj, prog := filepath.Join(dir, "s.o"), filepath.Join(dir, "s")
	for _, c := range [][]string{
		{"as", "--32", "-o", obj, filepath.Join("testdata", "syscalls.S")},
		{"ld", "-m", "elf_i386", "-static", "-o", prog, obj},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", c[0], err, out)
		}
	}
	elf, err := os.ReadFile(prog)
	if err != nil {
		t.Fatal(err)
	}
	var hx strings.Builder
	for i, c := range elf {
		fmt.Fprintf(&hx, "%02X", c)
		if i%32 == 31 {
			hx.WriteString("\n")
		}
	}
	hx.WriteString("\n")
	script := "src 0 /\nsrc 0 /dev\n" + src("/s.hex0", hx.String()) + "hex0 /s.hex0 /s\n/s\n"
	img := filepath.Join(dir, "disk.img")
	if err := WriteImage(img, k, []byte(script), 1<<20); err != nil {
		t.Fatal(err)
	}
	bin, _ := qemu.FindQEMU("")
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	lines, err := boot(context.Background(), bin, img, qemu.Guest{}, Config{Accel: qemu.AccelTCG, IdleTimeout: time.Minute, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	n, err := flushLength(lines)
	if err != nil {
		t.Fatalf("%v%s", err, lastLines(lines, 5))
	}
	area, err := readArea(img, n)
	if err != nil {
		t.Fatal(err)
	}
	want := "ok mkdir\nok mkdir_exists\nok write\nok lseek_set\nok lseek_end\nok open_excl\nok symlink\nok read_link\nok chdir\nok access\nok getcwd\nok unlink\nok unlinked\nok brk\nok fork_wait\nok execve_low\nok enosys\n"
	if string(area) != want {
		t.Errorf("the program reported:\n%s\nexpected:\n%s", area, want)
	}
}
