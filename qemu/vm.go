package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Defaults for a VM.
const (
	DefaultMemoryMiB   = 1024
	DefaultCPUs        = 1
	DefaultIdleTimeout = 5 * time.Minute
)

type config struct {
	qemu, kernel, initramfs, init string
	memoryMiB, cpus               int
	console                       io.Writer
	idle                          time.Duration
	append                        []string
	accel                         Accel
	kvmProbeTimeout               time.Duration
	log                           logrus.FieldLogger
	unpack                        bool
	kernelCache                   string
	kvmCache                      string
	onStart                       func(*VM)
}

// Option configures a VM.
type Option func(*config)

// WithQEMU sets the emulator binary (default: qemu-system-x86_64 from PATH).
func WithQEMU(path string) Option { return func(c *config) { c.qemu = path } }

// WithKernel sets the kernel image (default: the newest /boot/vmlinuz-*).
func WithKernel(path string) Option { return func(c *config) { c.kernel = path } }

// WithInitramfs sets the initramfs archive to boot.
func WithInitramfs(path string) Option { return func(c *config) { c.initramfs = path } }

// WithInit sets the path, inside the initramfs, of the program the kernel
// runs as init (rdinit=); default /init.
func WithInit(path string) Option { return func(c *config) { c.init = path } }

// WithMemory sets the guest memory in MiB (default 1024).
func WithMemory(mib int) Option { return func(c *config) { c.memoryMiB = mib } }

// WithCPUs sets the number of virtual CPUs (default 1).
func WithCPUs(n int) Option { return func(c *config) { c.cpus = n } }

// WithConsole copies the guest console (ttyS0) to w as text: the tty's
// "\r\n" becomes "\n" and terminal escape sequences are dropped, so w can be
// a log file or a terminal.
func WithConsole(w io.Writer) Option { return func(c *config) { c.console = w } }

// WithIdleTimeout sets how long the guest may stay silent on both serial
// ports, without QEMU computing, before it is declared hung (default 5m; 0
// disables the check). A guest that keeps QEMU's process busy (more than
// a tenth of a CPU) is working, not hung: under TCG one MesCC compile runs for
// minutes without a word. A step that computes forever is caught by its
// own timeout instead.
func WithIdleTimeout(d time.Duration) Option { return func(c *config) { c.idle = d } }

// WithAppend adds kernel command-line arguments after bootchain's own.
func WithAppend(args ...string) Option {
	return func(c *config) { c.append = append(c.append, args...) }
}

// WithAccel selects the accelerator (default AccelAuto: probe KVM, fall back
// to TCG with one log line).
func WithAccel(a Accel) Option { return func(c *config) { c.accel = a } }

// WithKVMProbeTimeout bounds the boot stage of the KVM probe (default
// DefaultKVMProbeTimeout).
func WithKVMProbeTimeout(d time.Duration) Option { return func(c *config) { c.kvmProbeTimeout = d } }

// WithUnpackKernel sets whether a TCG guest boots the uncompressed kernel
// (default true): the host unpacks the bzImage's ELF kernel once, natively,
// and QEMU boots it through its PVH entry, which saves the seconds an
// emulated CPU spends decompressing. Kernels without CONFIG_PVH, or
// compressed with something the host cannot undo (gzip and bzip2 in Go, xz
// and zstd with the host's tools), boot as they are.
func WithUnpackKernel(on bool) Option { return func(c *config) { c.unpack = on } }

// WithOnStart sets a function called with the VM once QEMU has started,
// before Start returns: for recording what the guest runs with (Accel,
// Kernel) when the VM is started on the caller's behalf (RunSteps).
func WithOnStart(f func(*VM)) Option { return func(c *config) { c.onStart = f } }

// WithKernelCache sets the directory that keeps unpacked kernels, by the
// bzImage's SHA-256 (default: a temporary directory removed when the VM
// ends, so the kernel is unpacked on every boot).
func WithKernelCache(dir string) Option { return func(c *config) { c.kernelCache = dir } }

// WithLogger sets where the VM's few log lines go (default: logrus's
// standard logger).
func WithLogger(l logrus.FieldLogger) Option { return func(c *config) { c.log = l } }

func newConfig(opts []Option) *config {
	c := &config{
		memoryMiB:       DefaultMemoryMiB,
		cpus:            DefaultCPUs,
		idle:            DefaultIdleTimeout,
		accel:           AccelAuto,
		init:            "/init",
		kvmProbeTimeout: DefaultKVMProbeTimeout,
		log:             logrus.StandardLogger(),
		unpack:          true,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// VM is a running QEMU guest with a console on ttyS0 and a data channel on
// ttyS1.
type VM struct {
	cfg    *config
	cmd    *exec.Cmd
	accel  Accel
	kernel string
	start  time.Time

	data     *activityConn
	activity atomic.Int64 // unix nanoseconds of the last serial output
	held     atomic.Int32 // >0: the host is waiting, idle time does not count

	console     *consoleSink
	consoleDone chan struct{}
	stderr      tailBuffer

	exited  chan struct{} // closed when QEMU has exited
	waitErr error         // cmd.Wait's error, valid after exited
	stopMu  sync.Mutex
	stopped error // why the host stopped QEMU (ctx, hang, protocol error)
	once    sync.Once
	result  error
}

// Start boots a VM. It resolves QEMU and the kernel (errors wrap ErrNoQEMU
// and ErrNoKernel), chooses the accelerator, and starts QEMU in its own
// process group with SIGKILL as its parent-death signal. Cancelling ctx
// kills QEMU; Wait then returns an error wrapping ctx.Err().
func Start(ctx context.Context, opts ...Option) (*VM, error) {
	cfg := newConfig(opts)
	qemu, err := FindQEMU(cfg.qemu)
	if err != nil {
		return nil, err
	}
	kernel, err := FindKernel(cfg.kernel)
	if err != nil {
		return nil, err
	}
	if cfg.initramfs != "" {
		if err := readable(cfg.initramfs); err != nil {
			return nil, fmt.Errorf("initramfs %s: %w", cfg.initramfs, err)
		}
	}
	if cfg.memoryMiB < 64 || cfg.cpus < 1 {
		return nil, fmt.Errorf("qemu: memory %d MiB and %d cpus, expected at least 64 MiB and 1 cpu", cfg.memoryMiB, cfg.cpus)
	}
	accel := cfg.accel
	switch accel {
	case AccelAuto:
		if fresh, cached, err := probeKVMCached(ctx, cfg, qemu, kernel); err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("qemu: %w", ctx.Err())
			}
			switch {
			case fresh:
				cfg.log.WithField("reason", err.Error()).Warn("KVM unusable, using TCG (slower)")
			case cached:
				cfg.log.WithFields(logrus.Fields{"reason": err.Error(), "cache": cfg.kvmCache}).Info("KVM unusable on this host (the probe's verdict, kept until the host kernel, QEMU or /dev/kvm changes), using TCG")
			}
			accel = AccelTCG
		} else {
			accel = AccelKVM
		}
	case AccelKVM:
		// Asked for: fail at once, saying what to check, rather than hang
		// after the firmware as a broken nested KVM does.
		if _, _, err := probeKVMCached(ctx, cfg, qemu, kernel); err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("qemu: %w", ctx.Err())
			}
			return nil, &KVMError{Reason: err.Error()}
		}
	case AccelTCG:
	default:
		return nil, fmt.Errorf("qemu: accelerator %q, expected auto, kvm or tcg", accel)
	}

	var cleanup []func()
	undo := func() {
		for _, f := range cleanup {
			f()
		}
	}
	bootKernel := kernel
	if cfg.unpack && accel == AccelTCG {
		dir := cfg.kernelCache
		if dir == "" {
			tmp, err := os.MkdirTemp("", "bootchain-kernel-")
			if err != nil {
				return nil, fmt.Errorf("qemu: %w", err)
			}
			cleanup = append(cleanup, func() { os.RemoveAll(tmp) })
			dir = tmp
		}
		switch k, err := pvhKernel(kernel, dir); {
		case err == nil:
			bootKernel = k
		case errors.Is(err, errNoPVH):
			cfg.log.WithFields(logrus.Fields{"kernel": kernel, "reason": err.Error()}).Debug("booting the compressed kernel")
		default:
			undo()
			return nil, fmt.Errorf("qemu: unpack kernel %s: %w", kernel, err)
		}
	}

	conHost, conGuest, err := socketPair()
	if err != nil {
		undo()
		return nil, err
	}
	dataHost, dataGuest, err := socketPair()
	if err != nil {
		conHost.Close()
		conGuest.Close()
		undo()
		return nil, err
	}
	// no_timer_check: see Guest.KernelArgs.
	cmdline := []string{"console=ttyS0", "rdinit=" + cfg.init, "panic=-1", "no_timer_check", "quiet"}
	cmdline = append(cmdline, cfg.append...)
	args := []string{
		"-accel", string(accel),
		"-nographic", "-monitor", "none", "-nodefaults", "-no-user-config", "-no-reboot",
		"-m", strconv.Itoa(cfg.memoryMiB), "-smp", strconv.Itoa(cfg.cpus),
		"-kernel", bootKernel,
		"-append", strings.Join(cmdline, " "),
		// ExtraFiles become descriptors 3 and 4 in QEMU.
		"-chardev", "socket,id=console,fd=3", "-serial", "chardev:console",
		"-chardev", "socket,id=data,fd=4", "-serial", "chardev:data",
	}
	if cfg.initramfs != "" {
		args = append(args, "-initrd", cfg.initramfs)
	}
	vm := &VM{
		cfg:         cfg,
		accel:       accel,
		kernel:      kernel,
		consoleDone: make(chan struct{}),
		exited:      make(chan struct{}),
	}
	vm.cmd = exec.Command(qemu, args...)
	vm.cmd.ExtraFiles = []*os.File{conGuest, dataGuest}
	vm.cmd.Stdout = &vm.stderr
	vm.cmd.Stderr = &vm.stderr
	vm.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	vm.start = time.Now()
	vm.touch()
	err = vm.cmd.Start()
	conGuest.Close()
	dataGuest.Close()
	if err != nil {
		conHost.Close()
		dataHost.Close()
		undo()
		return nil, fmt.Errorf("qemu: start %s: %w", qemu, err)
	}
	cfg.log.WithFields(logrus.Fields{"accel": accel, "kernel": kernel, "pid": vm.cmd.Process.Pid}).Debug("qemu started")

	vm.data = &activityConn{Conn: dataHost, touch: vm.touch}
	vm.console = newConsoleSink(cfg.console)
	go func() {
		defer close(vm.consoleDone)
		defer conHost.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := conHost.Read(buf)
			if n > 0 {
				vm.touch()
				vm.console.Write(buf[:n])
			}
			if err != nil {
				vm.console.flush()
				return
			}
		}
	}()
	go func() {
		vm.waitErr = vm.cmd.Wait()
		undo()
		close(vm.exited)
	}()
	go vm.supervise(ctx)
	if cfg.onStart != nil {
		cfg.onStart(vm)
	}
	return vm, nil
}

func socketPair() (host net.Conn, guest *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("qemu: socketpair: %w", err)
	}
	hf := os.NewFile(uintptr(fds[0]), "serial-host")
	defer hf.Close() // FileConn dups it
	host, err = net.FileConn(hf)
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("qemu: socketpair: %w", err)
	}
	return host, os.NewFile(uintptr(fds[1]), "serial-guest"), nil
}

func (vm *VM) touch() { vm.activity.Store(time.Now().UnixNano()) }

// hold stops (true) or restarts (false) the idle clock, for the time the
// host itself keeps the guest waiting.
func (vm *VM) hold(on bool) {
	if on {
		vm.held.Add(1)
		return
	}
	vm.touch()
	vm.held.Add(-1)
}

// supervise kills QEMU when ctx ends or the guest goes quiet for too long.
func (vm *VM) supervise(ctx context.Context) {
	var tick <-chan time.Time
	if vm.cfg.idle > 0 {
		t := time.NewTicker(min(vm.cfg.idle/4, time.Second))
		defer t.Stop()
		tick = t.C
	}
	lastCPU, lastAt := time.Duration(-1), time.Now()
	var lastThreads map[string]time.Duration
	for {
		select {
		case <-vm.exited:
			return
		case <-ctx.Done():
			vm.stop(fmt.Errorf("qemu: stopped: %w", ctx.Err()))
			return
		case now := <-tick:
			// Silent, but working: using CPU, or (on a loaded host)
			// waiting for it.
			pid, wall, busy := vm.cmd.Process.Pid, now.Sub(lastAt), false
			if cpu, err := processCPU(pid); err == nil {
				busy = computing(lastCPU, cpu, wall)
				lastCPU = cpu
			}
			if th, err := threadsRunnable(pid); err == nil {
				busy = busy || runnable(lastThreads, th, wall)
				lastThreads = th
			}
			lastAt = now
			if busy {
				vm.touch()
			}
			if vm.held.Load() > 0 {
				continue
			}
			idle := time.Since(time.Unix(0, vm.activity.Load()))
			if idle >= vm.cfg.idle {
				vm.stop(&HangError{Idle: vm.cfg.idle, LastLine: vm.console.lastLine()})
				return
			}
		}
	}
}

// computing reports whether a process that had used before of CPU time and
// now uses now, wall later, kept more than a tenth of a CPU busy meanwhile.
// An idle guest costs QEMU under TCG about 0.3 % of a CPU (its timer
// ticks); a computing one gets most of a CPU, and still over a third on a
// host loaded twice over. before < 0 means there is no earlier sample.
func computing(before, now, wall time.Duration) bool {
	return before >= 0 && wall > 0 && now-before > wall/10
}

// threadsRunnable returns, for each thread of process pid, the time it
// has spent on a CPU or runnable and waiting in a run queue for one, from
// /proc/PID/task/TID/schedstat.
func threadsRunnable(pid int) (map[string]time.Duration, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil, err
	}
	m := make(map[string]time.Duration, len(tasks))
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && t.Name() == strconv.Itoa(pid) {
				return nil, err // no schedstat in this kernel
			}
			continue // the thread ended
		}
		d, err := parseSchedstat(b)
		if err != nil {
			return nil, err
		}
		m[t.Name()] = d
	}
	return m, nil
}

// parseSchedstat reads a schedstat line, "ONCPU_NS RUNQUEUE_NS SLICES",
// and returns the first two added.
func parseSchedstat(b []byte) (time.Duration, error) {
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, fmt.Errorf("qemu: schedstat: %d fields, expected 3", len(f))
	}
	run, err1 := strconv.ParseInt(f[0], 10, 64)
	wait, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil || run < 0 || wait < 0 {
		return 0, fmt.Errorf("qemu: schedstat: %q: expected two counts of nanoseconds", bytes.TrimSpace(b))
	}
	return time.Duration(run + wait), nil
}

// runnable reports whether one thread was on a CPU or waiting for one for
// more than half of the wall time between the samples before and now. A
// guest that computes keeps its vCPU thread so, however loaded the host
// (it then waits for a CPU rather than using one); an idle guest's
// threads sleep.
func runnable(before, now map[string]time.Duration, wall time.Duration) bool {
	if wall <= 0 {
		return false
	}
	for tid, d := range now {
		if b, ok := before[tid]; ok && d-b > wall/2 {
			return true
		}
	}
	return false
}

// clockTick is the unit of /proc/PID/stat's CPU times (USER_HZ, 100 on
// every Linux architecture QEMU runs on here).
const clockTick = 10 * time.Millisecond

// processCPU returns the user plus system CPU time process pid has used,
// all its threads included, from /proc/PID/stat.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a
// /proc/PID/stat line; the command name (field 2) may hold blanks and
// parentheses, so fields are counted after its last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("qemu: /proc stat: no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 { // state is field 3; utime, stime are 14, 15
		return 0, fmt.Errorf("qemu: /proc stat: %d fields after the name, expected at least 13", len(f))
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("qemu: /proc stat: utime %q, stime %q: expected clock ticks", f[11], f[12])
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// stop records why the host ended the VM and kills QEMU's process group.
func (vm *VM) stop(reason error) {
	vm.stopMu.Lock()
	if vm.stopped == nil {
		vm.stopped = reason
	}
	vm.stopMu.Unlock()
	select {
	case <-vm.exited:
		return // reaped: its process group id may already be reused
	default:
	}
	_ = syscall.Kill(-vm.cmd.Process.Pid, syscall.SIGKILL)
}

func (vm *VM) stopReason() error {
	vm.stopMu.Lock()
	defer vm.stopMu.Unlock()
	return vm.stopped
}

// Kill stops the VM now; Wait then reports err.
func (vm *VM) Kill(err error) { vm.stop(err) }

// Data returns the host end of the guest's ttyS1: reads return the bytes the
// guest wrote (after its tty's output processing), writes are the guest's
// input. Reading it counts as guest activity for the idle timeout. The
// stream ends when QEMU exits.
func (vm *VM) Data() net.Conn { return vm.data }

// Accel returns the accelerator the VM runs with.
func (vm *VM) Accel() Accel { return vm.accel }

// Kernel returns the kernel image the VM boots, as given or found (before
// any unpacking for TCG).
func (vm *VM) Kernel() string { return vm.kernel }

// Started returns when QEMU was started.
func (vm *VM) Started() time.Time { return vm.start }

// ConsoleTail returns the last lines of the console, oldest first.
func (vm *VM) ConsoleTail() []string { return vm.console.tail() }

// Wait waits for QEMU to exit and the console to drain, and says how the
// guest ended. It returns nil only when init exited with status 0 (the
// kernel's "Attempted to kill init! exitcode=0x00000000" panic, the normal
// end of a guest whose init is a script). Otherwise: *InitExitError (init
// exited non-zero or was killed), *PanicError (any other kernel panic),
// *HangError (idle timeout), *CrashError (QEMU failed or the guest reset
// without a panic), or an error wrapping the context's error.
func (vm *VM) Wait() error {
	vm.once.Do(func() {
		<-vm.exited
		<-vm.consoleDone
		vm.result = vm.outcome()
	})
	return vm.result
}

func (vm *VM) outcome() error {
	vm.stopMu.Lock()
	stopped := vm.stopped
	vm.stopMu.Unlock()
	if stopped != nil {
		return stopped
	}
	if p := vm.console.panicMsg(); p != "" {
		if m := initExitRE.FindStringSubmatch(p); m != nil {
			code, _ := strconv.ParseUint(m[1], 16, 32)
			if code == 0 {
				return nil
			}
			return &InitExitError{Status: int(code>>8) & 0xff, Signal: int(code & 0x7f)}
		}
		return &PanicError{Message: p}
	}
	if vm.waitErr != nil {
		return &CrashError{Reason: vm.waitErr.Error(), Stderr: vm.stderr.lastLine()}
	}
	return &CrashError{Reason: "guest stopped without a kernel panic (reset or triple fault)", Stderr: vm.stderr.lastLine()}
}

var (
	panicRE    = regexp.MustCompile(`Kernel panic - not syncing: (.*)$`)
	initExitRE = regexp.MustCompile(`^Attempted to kill init! exitcode=0x([0-9a-fA-F]{1,8})`)
)

// InitExitError means the guest's init ended with a non-zero status or a
// signal: for a kaem script, the first command that failed.
type InitExitError struct {
	Status int // exit status, when Signal is 0
	Signal int // the signal that killed init, or 0
}

func (e *InitExitError) Error() string {
	if e.Signal != 0 {
		return fmt.Sprintf("guest init killed by signal %d (%s)", e.Signal, syscall.Signal(e.Signal))
	}
	return fmt.Sprintf("guest init exited with status %d", e.Status)
}

// PanicError is a kernel panic other than init's exit.
type PanicError struct{ Message string }

func (e *PanicError) Error() string { return "guest kernel panic: " + e.Message }

// HangError means the guest wrote nothing on either serial port, and QEMU
// did not compute, for the idle timeout; QEMU was killed.
type HangError struct {
	Idle     time.Duration
	LastLine string // last console line, for context
}

func (e *HangError) Error() string {
	s := fmt.Sprintf("guest hang: no serial output and QEMU not computing for %v (raise --idle-timeout if a step is just slow)", e.Idle)
	if e.LastLine != "" {
		s += fmt.Sprintf("; last console line: %q", e.LastLine)
	}
	return s
}

// CrashError means QEMU itself failed, or the guest stopped without a panic.
type CrashError struct {
	Reason string
	Stderr string // QEMU's last line of diagnostics
}

func (e *CrashError) Error() string {
	s := "qemu crashed: " + e.Reason
	if e.Stderr != "" {
		s += ": " + e.Stderr
	}
	return s
}

// activityConn marks guest activity on every read.
type activityConn struct {
	net.Conn
	touch func()
}

func (c *activityConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

// consoleSink cleans the console stream for people and keeps its last lines
// and the first kernel panic message.
type consoleSink struct {
	mu        sync.Mutex
	w         io.Writer
	esc       int // 0: text; 1: after ESC; 2: inside a CSI sequence
	line      []byte
	lines     []string
	panicText string
}

const consoleTail = 40

func newConsoleSink(w io.Writer) *consoleSink { return &consoleSink{w: w} }

func (s *consoleSink) Write(p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]byte, 0, len(p))
	for _, c := range p {
		switch s.esc {
		case 1:
			s.esc = 0
			if c == '[' {
				s.esc = 2
			}
			continue
		case 2:
			if c >= 0x40 && c <= 0x7e {
				s.esc = 0
			}
			continue
		}
		switch {
		case c == 0x1b:
			s.esc = 1
		case c == '\r':
		case c == '\n':
			out = append(out, c)
			s.endLine()
		default:
			out = append(out, c)
			if len(s.line) < 4096 {
				s.line = append(s.line, c)
			}
		}
	}
	if s.w != nil && len(out) > 0 {
		_, _ = s.w.Write(out)
	}
}

func (s *consoleSink) endLine() {
	l := string(s.line)
	s.line = s.line[:0]
	if s.panicText == "" {
		if m := panicRE.FindStringSubmatch(l); m != nil {
			s.panicText = strings.TrimSpace(m[1])
		}
	}
	if strings.TrimSpace(l) == "" {
		return
	}
	s.lines = append(s.lines, l)
	if len(s.lines) > consoleTail {
		s.lines = s.lines[len(s.lines)-consoleTail:]
	}
}

func (s *consoleSink) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.line) > 0 {
		s.endLine()
	}
}

func (s *consoleSink) tail() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

func (s *consoleSink) lastLine() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.line) > 0 {
		return string(s.line)
	}
	if len(s.lines) == 0 {
		return ""
	}
	return s.lines[len(s.lines)-1]
}

func (s *consoleSink) panicMsg() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.panicText
}

// tailBuffer keeps the last few KiB written to it (QEMU's diagnostics).
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 8<<10 {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-4<<10:]...)
	}
	return len(p), nil
}

// lastLine returns the last non-empty line, skipping QEMU's warnings about
// CPU features, which say nothing about a failure.
func (t *tailBuffer) lastLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := bytes.Split(bytes.TrimSpace(t.buf), []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(string(lines[i]))
		if l != "" && !strings.Contains(l, "warning: host doesn't support requested feature") {
			return l
		}
	}
	return ""
}
