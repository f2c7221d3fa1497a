package qemu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bootchain/bootchain/hex0"
	"github.com/bootchain/bootchain/initramfs"
)

// needQEMU skips a test that boots a guest when QEMU or a kernel is missing.
func needQEMU(t *testing.T) {
	t.Helper()
	if _, err := FindQEMU(""); err != nil {
		t.Skipf("cannot boot a guest: %v", err)
	}
	if _, err := FindKernel(""); err != nil {
		t.Skipf("cannot boot a guest: %v", err)
	}
}

var (
	seedsOnce  sync.Once
	seedsHex0  []byte
	seedsKaem  []byte
	seedsLabel string
	seedsErr   error
)

// testSeeds returns the hex0 and kaem seeds the guest runs: the real x86
// seeds when package hex0 has them pinned, else the stand-in Go program in
// testdata/standin (which plays both by the name it is run under).
func testSeeds(t testing.TB) (hex0Seed, kaemSeed []byte) {
	t.Helper()
	seedsOnce.Do(func() {
		seeds, err := hex0.BuildAll("x86")
		if err == nil && len(seeds) == 2 && len(seeds[0].Bytes) > 0 && len(seeds[1].Bytes) > 0 {
			seedsHex0, seedsKaem, seedsLabel = seeds[0].Bytes, seeds[1].Bytes, "real x86 seeds from package hex0"
			return
		}
		dir, derr := os.MkdirTemp("", "bootchain-standin-")
		if derr != nil {
			seedsErr = derr
			return
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "standin")
		cmd := exec.Command("go", "build", "-o", bin, "./testdata/standin")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOARCH=amd64", "GOOS=linux")
		if out, berr := cmd.CombinedOutput(); berr != nil {
			seedsErr = fmt.Errorf("build stand-in: %v\n%s", berr, out)
			return
		}
		b, rerr := os.ReadFile(bin)
		seedsHex0, seedsKaem, seedsErr = b, b, rerr
		seedsLabel = fmt.Sprintf("stand-in Go seeds (hex0.BuildAll: %v)", err)
	})
	if seedsErr != nil {
		t.Fatal(seedsErr)
	}
	t.Logf("guest seeds: %s", seedsLabel)
	return seedsHex0, seedsKaem
}

const (
	hex0Path = "seed/hex0-seed"
	kaemPath = "seed/kaem-optional-seed"
)

// hexOf renders data as hex0 source, with comments and odd spacing.
func hexOf(data []byte) []byte {
	var b bytes.Buffer
	b.WriteString("# test data\n")
	for i, c := range data {
		fmt.Fprintf(&b, "%02X", c)
		if i%16 == 15 {
			b.WriteString(" ; row\n")
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()
}

// ttyTorture holds every byte value and long runs of the bytes a tty could
// touch.
func ttyTorture() []byte {
	var b []byte
	for i := range 256 {
		b = append(b, byte(i))
	}
	for _, run := range []string{"\n", "\r", "\r\n", "\n\r", "\t", "\x04", "\x00", "\x7f", "\xff", "\x1b", "\x11\x13"} {
		b = append(b, bytes.Repeat([]byte(run), 3000)...)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 64 << 10 {
		b = append(b, byte(rng.UintN(256)))
	}
	return b
}

// testRoot is a guest root: seeds, sources and an output directory.
func testRoot(t testing.TB, src map[string][]byte) []initramfs.Entry {
	hexSeed, kaemSeed := testSeeds(t)
	e := []initramfs.Entry{
		initramfs.File{Path: hex0Path, Mode: 0o755, Data: hexSeed},
		initramfs.File{Path: kaemPath, Mode: 0o755, Data: kaemSeed},
		initramfs.Dir{Path: "out", Mode: 0o755},
	}
	for p, d := range src {
		e = append(e, initramfs.File{Path: p, Mode: 0o644, Data: d})
	}
	return e
}

func testGuest(t testing.TB, steps []GuestStep, src map[string][]byte) Guest {
	return Guest{Kaem: kaemPath, Hex0: hex0Path, Steps: steps, Files: testRoot(t, src), Key: t.Name()}
}

// kernelCache keeps the unpacked kernel for all the boots of one test run.
var kernelCache string

func TestMain(m *testing.M) {
	if os.Getenv("BOOTCHAIN_QEMU_HELPER") != "" {
		os.Exit(m.Run()) // killed by its parent: nothing to clean up
	}
	dir, err := os.MkdirTemp("", "bootchain-kernels-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kernelCache = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testOpts boots under TCG with the console in the test log.
func testOpts(t *testing.T, extra ...Option) []Option {
	return append([]Option{WithAccel(AccelTCG), WithConsole(&logWriter{t: t}), WithIdleTimeout(90 * time.Second), WithKernelCache(kernelCache)}, extra...)
}

type logWriter struct {
	t   *testing.T
	mu  sync.Mutex
	buf []byte
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.t.Logf("console: %s", w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// runNative runs steps on the host in a copy of the root and returns the
// SHA-256 of each output: what the guest must reproduce.
func runNative(t *testing.T, g Guest) map[string]string {
	t.Helper()
	root := t.TempDir()
	entries := append([]initramfs.Entry(nil), g.Files...)
	catm, err := hex0.Assemble(bytes.NewReader(CatmSource))
	if err != nil {
		t.Fatal(err)
	}
	entries = append(entries, initramfs.File{Path: catmPath, Mode: 0o755, Data: catm})
	for _, e := range entries {
		p := filepath.Join(root, e.EntryPath())
		switch v := e.(type) {
		case initramfs.Dir:
			os.MkdirAll(p, 0o755)
		case initramfs.File:
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, v.Data, v.Mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	sums := map[string]string{}
	for _, s := range g.Steps {
		var argv []string
		for _, a := range s.Argv {
			if strings.HasPrefix(a, "/") {
				a = filepath.Join(root, a)
			}
			argv = append(argv, a)
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Args[0] = filepath.Base(argv[0])
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("native step %s: %v\n%s", s.Name, err, out)
		}
		for _, o := range s.Outputs {
			b, err := os.ReadFile(filepath.Join(root, o))
			if err != nil {
				t.Fatalf("native step %s: %v", s.Name, err)
			}
			sum := sha256.Sum256(b)
			sums[o] = hex.EncodeToString(sum[:])
		}
	}
	return sums
}

func TestRunStepsMatchesNative(t *testing.T) {
	needQEMU(t)
	t.Parallel()
	torture := ttyTorture()
	src := map[string][]byte{
		"src/hello.hex0":   []byte("# a greeting\n68 65 6C 6C 6F 0A ; hello\\n\n"),
		"src/torture.hex0": hexOf(torture),
		"src/note.txt":     []byte("note\r\n"),
	}
	steps := []GuestStep{
		{Name: "hello", Argv: []string{"/" + hex0Path, "/src/hello.hex0", "/out/hello"}, Outputs: []string{"out/hello"}},
		{Name: "torture", Argv: []string{"/" + hex0Path, "/src/torture.hex0", "/out/torture"}, Outputs: []string{"out/torture", "/src/torture.hex0"}},
		{Name: "join", Argv: []string{"/" + catmPath, "/out/joined", "/out/hello", "/src/note.txt", "/out/torture"}, Outputs: []string{"out/joined"}},
	}
	g := testGuest(t, steps, src)
	g.Pause = true
	want := runNative(t, g)

	start := time.Now()
	var events []string
	var ready, firstStep time.Duration
	res, err := RunSteps(context.Background(), g, func(e Event) error {
		events = append(events, fmt.Sprintf("%s:%s", e.Kind, e.Name))
		switch {
		case e.Kind == EventReady:
			ready = time.Since(start)
		case e.Kind == EventBegin && e.Step == 0:
			firstStep = time.Since(start)
		}
		return nil
	}, testOpts(t)...)
	total := time.Since(start)
	if err != nil {
		t.Fatalf("RunSteps: %v", err)
	}
	t.Logf("measured: guest ready (catm assembled) %.1fs, first step begins %.1fs, whole run %.1fs", ready.Seconds(), firstStep.Seconds(), total.Seconds())

	wantEvents := "ready: wait:hello begin:hello end:hello output:hello step-done:hello " +
		"wait:torture begin:torture end:torture output:torture output:torture step-done:torture " +
		"wait:join begin:join end:join output:join step-done:join done:"
	if got := strings.Join(events, " "); got != wantEvents {
		t.Errorf("events:\n got %s\nwant %s", got, wantEvents)
	}
	if len(res) != len(steps) {
		t.Fatalf("%d results, want %d", len(res), len(steps))
	}
	for i, r := range res {
		for j, o := range r.Outputs {
			wantPath, _ := initramfs.Clean(steps[i].Outputs[j])
			if o.Path != wantPath {
				t.Errorf("step %s output %d path %s, want %s", r.Name, j, o.Path, wantPath)
			}
			if o.SHA256 != want[steps[i].Outputs[j]] && o.SHA256 != want[wantPath] {
				t.Errorf("step %s: %s: guest sha256 %s, native %s", r.Name, o.Path, o.SHA256, want[wantPath])
			}
		}
	}
	if !bytes.Equal(res[1].Outputs[0].Data, torture) {
		t.Errorf("the torture bytes did not survive the serial line (%d bytes back, %d sent)", len(res[1].Outputs[0].Data), len(torture))
	}
}

func TestRunStepsFailures(t *testing.T) {
	needQEMU(t)
	src := map[string][]byte{"src/hello.hex0": []byte("68 69 0A\n")}
	ok := GuestStep{Name: "ok", Argv: []string{"/" + hex0Path, "/src/hello.hex0", "/out/hi"}, Outputs: []string{"out/hi"}}
	tests := []struct {
		name      string
		steps     []GuestStep
		wantStep  string
		wantOut   string
		wantValue string
		results   int
	}{
		{
			name:      "failing command",
			steps:     []GuestStep{ok, {Name: "broken", Argv: []string{"/" + catmPath, "/out/x", "/src/missing"}, Outputs: []string{"out/x"}}},
			wantStep:  "broken",
			wantValue: "step broken: command failed in the guest: guest init exited with status 1",
			results:   1,
		},
		{
			name:      "missing output",
			steps:     []GuestStep{{Name: "forgetful", Argv: []string{"/" + hex0Path, "/src/hello.hex0", "/out/hi"}, Outputs: []string{"out/hi", "out/never"}}},
			wantStep:  "forgetful",
			wantOut:   "out/never",
			wantValue: "step forgetful: output out/never: the guest could not send it (not created?): guest init exited with status 1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := RunSteps(context.Background(), testGuest(t, tt.steps, src), nil, testOpts(t)...)
			var se *StepError
			var ie *InitExitError
			if !errors.As(err, &se) || !errors.As(err, &ie) {
				t.Fatalf("RunSteps = %v, want a *StepError around an *InitExitError", err)
			}
			if se.Step != tt.wantStep || se.Output != tt.wantOut || ie.Status != 1 || err.Error() != tt.wantValue {
				t.Errorf("RunSteps error = %q (step %q, output %q, status %d), want %q", err, se.Step, se.Output, ie.Status, tt.wantValue)
			}
			if len(res) != tt.results {
				t.Errorf("%d results, want %d", len(res), tt.results)
			}
		})
	}
}

// blocker is a step that never ends: catm reading the data channel, to
// which the host sends nothing.
var blocker = GuestStep{Name: "block", Argv: []string{"/" + catmPath, "/out/x", "/dev/ttyS1"}, Outputs: []string{"out/x"}}

func TestRunStepsHang(t *testing.T) {
	needQEMU(t)
	t.Parallel()
	// Verbose boot messages keep the console busy while the kernel boots,
	// so only the blocked step can exhaust the short idle timeout.
	_, err := RunSteps(context.Background(), testGuest(t, []GuestStep{blocker}, nil), nil,
		testOpts(t, WithIdleTimeout(10*time.Second), WithAppend("loglevel=7", "earlyprintk=serial,ttyS0,115200"))...)
	var he *HangError
	var se *StepError
	if !errors.As(err, &he) || !errors.As(err, &se) || se.Step != "block" {
		t.Fatalf("RunSteps = %v, want a *HangError in step block", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
}

func TestRunStepsStepTimeout(t *testing.T) {
	needQEMU(t)
	t.Parallel()
	step := blocker
	step.Timeout = 2 * time.Second
	_, err := RunSteps(context.Background(), testGuest(t, []GuestStep{step}, nil), nil, testOpts(t)...)
	if err == nil || err.Error() != "step block: timed out after 2s" {
		t.Fatalf("RunSteps = %v, want step block: timed out after 2s", err)
	}
}

// qemuProcesses lists the pids of processes whose command line contains tag.
func qemuProcesses(tag string) []string {
	var pids []string
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(tag)) {
			pids = append(pids, d.Name())
		}
	}
	return pids
}

func TestRunStepsCancelLeavesNoProcess(t *testing.T) {
	needQEMU(t)
	t.Parallel()
	tag := fmt.Sprintf("bootchain.test=%d", time.Now().UnixNano())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var running []string
	_, err := RunSteps(ctx, testGuest(t, []GuestStep{blocker}, nil), func(e Event) error {
		if e.Kind == EventBegin {
			running = qemuProcesses(tag)
			cancel()
		}
		return nil
	}, testOpts(t, WithAppend(tag))...)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("RunSteps = %v, want context.Canceled", err)
	}
	if len(running) != 1 {
		t.Fatalf("while the step ran, %d processes had %s in their command line, want 1 (qemu)", len(running), tag)
	}
	if left := qemuProcesses(tag); len(left) > 0 {
		t.Fatalf("qemu still running after RunSteps returned: pids %v", left)
	}
}

func TestKernelPanic(t *testing.T) {
	needQEMU(t)
	t.Parallel()
	// An initramfs with no init: the kernel looks for a root device, finds
	// none and panics.
	archive := filepath.Join(t.TempDir(), "empty.cpio")
	if err := initramfs.WriteFile(archive, initramfs.DeviceNodes(), initramfs.Options{}); err != nil {
		t.Fatal(err)
	}
	vm, err := Start(context.Background(), testOpts(t, WithInitramfs(archive), WithInit("/nothing"))...)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = readAll(vm.Data()) }()
	err = vm.Wait()
	var pe *PanicError
	if !errors.As(err, &pe) || !strings.Contains(pe.Message, "VFS: Unable to mount root fs") {
		t.Fatalf("Wait = %v, want a kernel panic about the root fs", err)
	}
}

func readAll(c interface{ Read([]byte) (int, error) }) (int, error) {
	buf := make([]byte, 4096)
	n := 0
	for {
		m, err := c.Read(buf)
		n += m
		if err != nil {
			return n, err
		}
	}
}

// fakeQEMU writes a shell script that stands in for the emulator.
func fakeQEMU(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "qemu-system-x86_64")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func fakeKernel(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "vmlinuz-0")
	if err := os.WriteFile(p, []byte("not a kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStartErrors(t *testing.T) {
	kernel := fakeKernel(t)
	tests := []struct {
		name string
		opts []Option
		is   error
		want string
	}{
		{"missing qemu", []Option{WithQEMU("/nonexistent/qemu-system-x86_64"), WithKernel(kernel)}, ErrNoQEMU,
			"qemu-system-x86_64 not found; apt-get install qemu-system-x86 (looked at /nonexistent/qemu-system-x86_64)"},
		{"missing kernel", []Option{WithQEMU(fakeQEMU(t, "exit 0")), WithKernel("/nonexistent/vmlinuz")}, os.ErrNotExist,
			"kernel /nonexistent/vmlinuz: open /nonexistent/vmlinuz: no such file or directory"},
		{"bad accel", []Option{WithQEMU(fakeQEMU(t, "exit 0")), WithKernel(kernel), WithAccel("hvf")}, nil,
			`qemu: accelerator "hvf", expected auto, kvm or tcg`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Start(context.Background(), tt.opts...)
			if err == nil || err.Error() != tt.want || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Fatalf("Start = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestFindKernel(t *testing.T) {
	boot := t.TempDir()
	if _, err := findKernel("", boot); !errors.Is(err, ErrNoKernel) || !strings.Contains(err.Error(), "apt-get install linux-image-amd64") {
		t.Fatalf("findKernel in an empty /boot = %v, want ErrNoKernel", err)
	}
	for _, v := range []string{"6.1.0-9-amd64", "6.1.0-56-amd64", "5.10.0-30-amd64", "6.10.0-1-amd64", "6.9.12-3-amd64"} {
		os.WriteFile(filepath.Join(boot, "vmlinuz-"+v), nil, 0o644)
	}
	got, err := findKernel("", boot)
	if err != nil || filepath.Base(got) != "vmlinuz-6.10.0-1-amd64" {
		t.Fatalf("findKernel = %v, %v; want the newest, vmlinuz-6.10.0-1-amd64", got, err)
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"6.1.0-56-amd64", "6.1.0-9-amd64", 1},
		{"6.10.0-1-amd64", "6.9.12-3-amd64", 1},
		{"6.1.0-56-amd64", "6.1.0-56-amd64", 0},
		{"5.10.0-30-amd64", "6.1.0-1-amd64", -1},
		{"6.1.0-056", "6.1.0-56", 0},
		{"6.1.0-56-amd64", "6.1.0-56", 1},
	}
	for _, tt := range tests {
		if got := compareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestWaitOutcomes(t *testing.T) {
	kernel := fakeKernel(t)
	tests := []struct {
		name string
		body string
		opts []Option
		want string
	}{
		{"qemu fails", `echo "qemu-system-x86_64: -m 1024: cannot set up guest memory 'pc.ram'" >&2; exit 1`, nil,
			"qemu crashed: exit status 1: qemu-system-x86_64: -m 1024: cannot set up guest memory 'pc.ram'"},
		{"qemu killed", `kill -SEGV $$`, nil, "qemu crashed: signal: segmentation fault"},
		{"reset without panic", `exit 0`, nil, "qemu crashed: guest stopped without a kernel panic (reset or triple fault)"},
		{"silent guest", `exec sleep 60`, []Option{WithIdleTimeout(300 * time.Millisecond)},
			"guest hang: no serial output and QEMU not computing for 300ms (raise --idle-timeout if a step is just slow)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := append([]Option{WithQEMU(fakeQEMU(t, tt.body)), WithKernel(kernel), WithAccel(AccelTCG)}, tt.opts...)
			vm, err := Start(context.Background(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			if err := vm.Wait(); err == nil || err.Error() != tt.want {
				t.Fatalf("Wait = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestConsoleOutcome(t *testing.T) {
	// The console of a real guest, as the kernel writes it.
	tests := []struct {
		console string
		want    string
	}{
		{"\x1bc\x1b[?7l\x1b[2Jhello\r\n[    5.18] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000000\r\n", ""},
		{"[    5.18] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\r\n", "guest init exited with status 1"},
		{"[    5.18] Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b\r\n", "guest init killed by signal 11 (segmentation fault)"},
		{"Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\r\n", "guest kernel panic: VFS: Unable to mount root fs on unknown-block(0,0)"},
	}
	for _, tt := range tests {
		var shown bytes.Buffer
		vm := &VM{console: newConsoleSink(&shown)}
		for i := range len(tt.console) { // byte by byte: escapes split across writes
			vm.console.Write([]byte{tt.console[i]})
		}
		err := vm.outcome()
		if (err == nil && tt.want != "") || (err != nil && err.Error() != tt.want) {
			t.Errorf("outcome of %q = %v, want %q", tt.console, err, tt.want)
		}
		if bytes.ContainsAny(shown.Bytes(), "\r\x1b") {
			t.Errorf("console shown as %q: carriage returns or escapes left", shown.String())
		}
	}
}

func TestGuestChecks(t *testing.T) {
	files := []initramfs.Entry{initramfs.File{Path: hex0Path}, initramfs.File{Path: kaemPath}}
	step := func(name string, argv []string, outs ...string) []GuestStep {
		return []GuestStep{{Name: name, Argv: argv, Outputs: outs}}
	}
	tests := []struct {
		name string
		g    Guest
		want string
	}{
		{"missing kaem", Guest{Kaem: "kaem", Hex0: hex0Path, Files: files}, "kaem seed kaem is not among the root's files"},
		{"space in argument", Guest{Kaem: kaemPath, Hex0: hex0Path, Files: files, Steps: step("s", []string{"/bin/x", "a b"})}, `argument "a b" contains ' '`},
		{"comment in argument", Guest{Kaem: kaemPath, Hex0: hex0Path, Files: files, Steps: step("s", []string{"/bin/x", "#a"})}, `contains '#'`},
		{"quote in argument", Guest{Kaem: kaemPath, Hex0: hex0Path, Files: files, Steps: step("s", []string{`/bin/"x`})}, `contains '"'`},
		{"empty command", Guest{Kaem: kaemPath, Hex0: hex0Path, Files: files, Steps: step("s", nil)}, "empty command"},
		{"escaping output", Guest{Kaem: kaemPath, Hex0: hex0Path, Files: files, Steps: step("s", []string{"/x"}, "../etc/passwd")}, `".." component`},
		{"duplicate output", Guest{Kaem: kaemPath, Hex0: hex0Path, Files: files, Steps: step("s", []string{"/x"}, "a", "/a")}, "output a listed twice"},
		{"newline in name", Guest{Kaem: kaemPath, Hex0: hex0Path, Files: files, Steps: step("a\nb", []string{"/x"})}, "without control characters"},
		{"module parameter as env", Guest{Kaem: kaemPath, Hex0: hex0Path, Files: files, Env: []string{"a.b=c"}}, `environment "a.b=c"`},
		{"env without value", Guest{Kaem: kaemPath, Hex0: hex0Path, Files: files, Env: []string{"ARCH"}}, `environment "ARCH"`},
		{"env with a quote", Guest{Kaem: kaemPath, Hex0: hex0Path, Files: files, Env: []string{`A="x"`}}, "environment"},
		{"script escapes", Guest{Kaem: kaemPath, Hex0: hex0Path, Files: files, Script: "../kaem.x86"}, "script"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.g.Entries(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Entries = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// TestGuestGolden pins the script and marker files a guest gets: what an
// auditor reads in the initramfs.
func TestGuestGolden(t *testing.T) {
	g := Guest{
		Kaem:  "bootstrap-seeds/POSIX/x86/kaem-optional-seed",
		Hex0:  "bootstrap-seeds/POSIX/x86/hex0-seed",
		Files: []initramfs.Entry{initramfs.File{Path: "bootstrap-seeds/POSIX/x86/kaem-optional-seed"}, initramfs.File{Path: "bootstrap-seeds/POSIX/x86/hex0-seed"}},
		Steps: []GuestStep{
			{Name: "hex0", Argv: []string{"bootstrap-seeds/POSIX/x86/hex0-seed", "x86/hex0_x86.hex0", "x86/artifact/hex0"}, Outputs: []string{"x86/artifact/hex0"}},
			{Name: "no outputs", Argv: []string{"/x86/artifact/hex0", "x86/kaem-minimal.hex0", "/dev/null"}},
		},
		Key:   "chain digest",
		Pause: true,
		Env:   []string{"ARCH=x86"},
	}
	entries, err := g.Entries()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "kernel args: %s\n\n", g.KernelArgs())
	for _, e := range entries {
		f, ok := e.(initramfs.File)
		if !ok || f.Path == catmHex0Path || len(f.Data) == 0 {
			continue
		}
		fmt.Fprintf(&b, "==> %s (mode %04o)\n%s\n", f.Path, f.Mode, f.Data)
	}
	golden := filepath.Join("testdata", "guest.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if b.String() != string(want) {
		t.Errorf("guest files differ from %s (go test -update rewrites it):\n%s", golden, b.String())
	}
}

// BenchmarkRunSteps boots a two-step guest and reports the time from the
// call to the first step's start and to the end, booting the unpacked kernel
// through PVH and the bzImage as it is.
func BenchmarkRunSteps(b *testing.B) {
	if _, err := FindQEMU(""); err != nil {
		b.Skipf("cannot boot a guest: %v", err)
	}
	if _, err := FindKernel(""); err != nil {
		b.Skipf("cannot boot a guest: %v", err)
	}
	steps := []GuestStep{
		{Name: "hello", Argv: []string{"/" + hex0Path, "/src/hello.hex0", "/out/hello"}, Outputs: []string{"out/hello"}},
		{Name: "join", Argv: []string{"/" + catmPath, "/out/joined", "/out/hello", "/out/hello"}, Outputs: []string{"out/joined"}},
	}
	g := testGuest(b, steps, map[string][]byte{"src/hello.hex0": []byte("68 69 0A\n")})
	for _, unpack := range []bool{true, false} {
		name := "pvh"
		if !unpack {
			name = "bzimage"
		}
		b.Run(name, func(b *testing.B) {
			var first, total time.Duration
			for range b.N {
				start := time.Now()
				_, err := RunSteps(context.Background(), g, func(e Event) error {
					if e.Kind == EventBegin && e.Step == 0 {
						first += time.Since(start)
					}
					return nil
				}, WithAccel(AccelTCG), WithKernelCache(kernelCache), WithUnpackKernel(unpack))
				if err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
			}
			b.ReportMetric(first.Seconds()/float64(b.N), "s-to-first-step")
			b.ReportMetric(total.Seconds()/float64(b.N), "s-total")
		})
	}
}

func TestRunStepsCancelMessage(t *testing.T) {
	needQEMU(t)
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := testGuest(t, []GuestStep{blocker}, nil)
	g.Pause = true
	_, err := RunSteps(ctx, g, func(e Event) error {
		if e.Kind == EventWait {
			// An auditor quits at the pause: the VM dies while the
			// callback still runs.
			cancel()
			time.Sleep(200 * time.Millisecond)
		}
		return nil
	}, testOpts(t)...)
	if err == nil || err.Error() != "step block: qemu: stopped: context canceled" {
		t.Fatalf("RunSteps = %v, want step block: qemu: stopped: context canceled", err)
	}
}

// TestComputing: a silent guest counts as working while QEMU's process
// keeps more than a tenth of a CPU busy, and only then.
func TestComputing(t *testing.T) {
	for _, tc := range []struct {
		before, now, wall time.Duration
		want              bool
	}{
		{-1, 5 * time.Second, time.Second, false}, // no earlier sample
		{0, 900 * time.Millisecond, time.Second, true},
		{0, 300 * time.Millisecond, time.Second, true},                             // a busy guest on a loaded host
		{0, 100 * time.Millisecond, time.Second, false},                            // exactly a tenth: not busy
		{2 * time.Second, 2*time.Second + 10*time.Millisecond, time.Second, false}, // an idle guest's timer ticks
		{0, time.Second, 0, false},
	} {
		if got := computing(tc.before, tc.now, tc.wall); got != tc.want {
			t.Errorf("computing(%v, %v, %v) = %v, want %v", tc.before, tc.now, tc.wall, got, tc.want)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		line string
		want time.Duration
		err  bool
	}{
		{"4242 (qemu-system-x86) S 1 4242 4242 0 -1 4194560 5000 0 0 0 1234 56 0 0 20 0 3 0 100 0 0\n", 1290 * clockTick, false},
		{"7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 10 20 0 0\n", 30 * clockTick, false}, // a name with ") " inside
		{"4242 (qemu) S 1 2 3\n", 0, true},
		{"no name here", 0, true},
		{"1 (x) S 1 1 1 0 -1 0 0 0 0 0 ten 2 0 0\n", 0, true},
	} {
		got, err := parseStatCPU([]byte(tc.line))
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseStatCPU(%q) = %v, %v; want %v, error %v", tc.line, got, err, tc.want, tc.err)
		}
	}
	// This process is real: its CPU time is readable and not negative.
	if d, err := processCPU(os.Getpid()); err != nil || d < 0 {
		t.Errorf("processCPU(self) = %v, %v", d, err)
	}
}

// TestRunnable: a thread that computes counts as working however loaded
// the host (it is on a CPU or waiting for one the whole time), and one
// that sleeps does not.
func TestRunnable(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name        string
		before, now map[string]time.Duration
		wall        time.Duration
		want        bool
	}{
		{"one thread busy", map[string]time.Duration{"1": 0, "2": 5 * ms}, map[string]time.Duration{"1": 10 * ms, "2": 700 * ms}, time.Second, true},
		{"threads asleep", map[string]time.Duration{"1": 0, "2": 5 * ms}, map[string]time.Duration{"1": 10 * ms, "2": 300 * ms}, time.Second, false},
		{"a new thread", map[string]time.Duration{"1": 0}, map[string]time.Duration{"1": 0, "3": 900 * ms}, time.Second, false},
		{"no earlier sample", nil, map[string]time.Duration{"1": 900 * ms}, time.Second, false},
		{"no wall time", map[string]time.Duration{"1": 0}, map[string]time.Duration{"1": 900 * ms}, 0, false},
	} {
		if got := runnable(tc.before, tc.now, tc.wall); got != tc.want {
			t.Errorf("%s: runnable = %v, want %v", tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct {
		line string
		want time.Duration
		err  bool
	}{
		{"180955410 589077557 837\n", 770032967, false},
		{"0 3998340 1\n", 3998340, false},
		{"12\n", 0, true},
		{"a b c\n", 0, true},
	} {
		got, err := parseSchedstat([]byte(tc.line))
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseSchedstat(%q) = %v, %v; want %v, error %v", tc.line, got, err, tc.want, tc.err)
		}
	}

	// Real threads: this process with one thread spinning, and a sleeper.
	sample := func(pid int) map[string]time.Duration {
		t.Helper()
		m, err := threadsRunnable(pid)
		if err != nil {
			t.Skipf("no schedstat here (%v): the CPU time criterion stands alone", err)
		}
		return m
	}
	stop := make(chan struct{})
	spinning := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		close(spinning)
		for {
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	<-spinning
	before, start := sample(os.Getpid()), time.Now()
	time.Sleep(300 * time.Millisecond)
	now, wall := sample(os.Getpid()), time.Since(start)
	close(stop)
	if !runnable(before, now, wall) {
		t.Errorf("a spinning thread: not runnable over %v: %v -> %v", wall, before, now)
	}
	sleeper := exec.Command("sleep", "10")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	time.Sleep(50 * time.Millisecond)
	before, start = sample(sleeper.Process.Pid), time.Now()
	time.Sleep(300 * time.Millisecond)
	now, wall = sample(sleeper.Process.Pid), time.Since(start)
	if runnable(before, now, wall) {
		t.Errorf("a sleeping process: runnable over %v: %v -> %v", wall, before, now)
	}
}

// TestRunStepsBusyNotHung: a step that computes without a word for longer
// than the idle timeout (the hex0 seed assembling a large file, one
// system call per byte) is working, not hung.
func TestRunStepsBusyNotHung(t *testing.T) {
	needQEMU(t)
	t.Parallel()
	const idle = 3 * time.Second
	big := bytes.Repeat([]byte("00 11 22 33 44 55 66 77\n"), 1<<17) // 3 MiB
	g := testGuest(t, []GuestStep{{Name: "busy", Argv: []string{"/" + hex0Path, "/in/big.hex0", "/out/big"}, Outputs: []string{"out/big"}}},
		map[string][]byte{"in/big.hex0": big})
	res, err := RunSteps(context.Background(), g, nil, testOpts(t, WithIdleTimeout(idle))...)
	if err != nil {
		t.Fatalf("RunSteps = %v, want the busy step to finish", err)
	}
	if d := res[0].Duration; d < 2*idle {
		t.Skipf("the step took %v here, too short to outlast the idle timeout of %v: nothing shown", d, idle)
	}
}
