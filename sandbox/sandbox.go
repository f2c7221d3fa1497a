// Package sandbox runs one step of a bootstrap chain hermetically in Linux
// namespaces: a fresh user, mount, pid, network, UTS, IPC and cgroup
// namespace whose root directory is a caller-populated host directory.
//
// The step sees only that directory (pivot_root, old root detached), no
// network (a new network namespace has only a loopback that is down), no
// host environment, no file descriptors but 0, 1 and 2 (stdin is
// /dev/null), a fixed host name and umask, and pid 1. When the step's
// pid 1 exits, is timed out, or its context is cancelled, the kernel
// kills every process left in its pid namespace before Run returns; if
// the calling process dies, the step is killed too (parent-death signal).
//
// Run works for root and for unprivileged users (when the kernel allows
// unprivileged user namespaces); Available reports whether it can work
// here. Between clone and the step's execve, a small init written in Go
// (this package, re-executed from /proc/self/exe) prepares the mounts;
// the step then replaces it and keeps pid 1. Any program that imports
// this package can therefore run steps without extra setup.
package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Config describes one hermetic run.
type Config struct {
	// Root is the host directory that becomes "/" for the step. The
	// caller populates it; files the step writes stay there after Run.
	// Files the step creates are owned by the caller's uid and gid.
	Root string
	// Dir is the working directory inside Root; "" means "/". A
	// relative Dir is taken relative to "/".
	Dir string
	// Argv is the step's argument vector. Argv[0] is the path of the
	// program inside Root (e.g. "/bootstrap-seeds/POSIX/x86/kaem-optional-seed"),
	// passed to execve unchanged: there is no PATH search, and a
	// relative Argv[0] is resolved against Dir.
	Argv []string
	// Env is the step's exact environment; nil means empty.
	Env []string
	// Stdout receives the step's standard output. Nil discards it.
	Stdout io.Writer
	// Stderr receives the step's standard error. Nil means Stdout.
	Stderr io.Writer
	// Timeout bounds the run; 0 means no limit. On expiry the whole pid
	// namespace is killed and Run returns an error matching ErrTimeout.
	Timeout time.Duration
	// Limits bound what the step may use; a zero field takes its value
	// from DefaultLimits.
	Limits Limits
}

// Limits bound what a step may use, so that a step that forks without
// end, allocates without end or fills its root fails alone instead of
// taking the host down.
type Limits struct {
	// RootSize is the size in bytes of the tmpfs the step runs in: its
	// root, copied in before and back out after. A step that fills it
	// fails with a *LimitError.
	RootSize int64
	// Memory bounds the memory the step may use, in bytes. Where a
	// memory cgroup can be made (see Enforcement) it bounds all of the
	// step's processes together and the files in its root (a tmpfs is
	// memory), and a step that reaches it fails with a *LimitError;
	// elsewhere it bounds the address space of each process (RLIMIT_AS),
	// and a failed step whose peak or output shows it reached the limit
	// fails with a *LimitError.
	Memory int64
	// Pids bounds the processes and threads of the step: a fork beyond
	// it fails with EAGAIN. A pids cgroup holds the step where one can be
	// made (and the step then fails with a *LimitError); RLIMIT_NPROC
	// is set too, which binds users other than root.
	Pids int
}

// DefaultLimits are generous for the real chain: MesCC's arenas are
// 20-100 MB, and roots grow to a few hundred MB with TinyCC and GCC.
var DefaultLimits = Limits{RootSize: 4 << 30, Memory: 4 << 30, Pids: 1024}

// Or returns l with each zero field taken from d.
func (l Limits) Or(d Limits) Limits {
	if l.RootSize == 0 {
		l.RootSize = d.RootSize
	}
	if l.Memory == 0 {
		l.Memory = d.Memory
	}
	if l.Pids == 0 {
		l.Pids = d.Pids
	}
	return l
}

// Describe says the limits as a person reads them, with how e enforces
// them.
func (l Limits) Describe(e Enforced) string {
	mem := MiB(l.Memory) + " (" + e.Memory + ")"
	if e.Memory == byRlimitAS {
		mem = MiB(l.Memory) + " per process (" + e.Memory + ")"
	}
	return fmt.Sprintf("root %s (tmpfs), memory %s, %d processes and threads (%s)", MiB(l.RootSize), mem, l.Pids, e.Pids)
}

// MiB writes a size in bytes in MiB.
func MiB(n int64) string {
	return fmt.Sprintf("%d MiB", (n+(1<<20)-1)>>20)
}

// LimitError reports that the step reached one of its Limits.
type LimitError struct {
	Argv0 string
	Limit string // "root size"
	Value string // the limit, e.g. "4096 MiB"
	Err   error  // how the step ended (an *ExitError), or nil
	// Note says how the limit was found to be reached, where the
	// kernel does not say (RLIMIT_AS).
	Note string
}

func (e *LimitError) Error() string {
	s := fmt.Sprintf("sandbox: %s: the step reached its %s limit (%s)", e.Argv0, e.Limit, e.Value)
	var ee *ExitError
	if errors.As(e.Err, &ee) {
		s += "; " + strings.TrimPrefix(ee.Error(), "sandbox: "+e.Argv0+": ")
	}
	if e.Note != "" {
		s += "; " + e.Note
	}
	return s
}

func (e *LimitError) Unwrap() error { return e.Err }

// Hostname is the host name (and NIS domain name) a step sees, so that
// nothing about the host leaks into outputs through uname(2).
const Hostname = "bootchain"

// Umask is the file mode creation mask a step starts with, fixed so that
// the modes of the files it creates do not depend on the caller's umask.
const Umask = 0o022

// ErrTimeout is matched (errors.Is) by the error Run returns when
// Config.Timeout expired and the step was killed. Cancellation of Run's
// context is reported with the context's error instead (context.Canceled
// or context.DeadlineExceeded).
var ErrTimeout = errors.New("timed out")

// ExitError reports that the step started and its pid 1 then exited
// unsuccessfully, either with a non-zero status or killed by a signal.
type ExitError struct {
	Argv0  string         // Config.Argv[0]
	Code   int            // exit status, or -1 when killed by a signal
	Signal syscall.Signal // the signal that killed the step, or 0
}

func (e *ExitError) Error() string {
	if e.Signal != 0 {
		return fmt.Sprintf("sandbox: %s: killed by signal %d (%v)", e.Argv0, int(e.Signal), e.Signal)
	}
	return fmt.Sprintf("sandbox: %s: exited with status %d", e.Argv0, e.Code)
}

// StartError reports that the step could not be started: the
// configuration is invalid, namespaces cannot be created here, the root or
// working directory is missing, or Argv[0] cannot be executed inside the
// root. Errors from the kernel are wrapped, so errors.Is(err,
// fs.ErrNotExist) works for a missing program.
type StartError struct {
	// Op is the failed stage: "config", "root", "namespaces", "mount",
	// "dir" or "exec".
	Op string
	// Path is the path concerned: a host path for "root", a path inside
	// the root for "dir" and "exec".
	Path string
	// Root is Config.Root.
	Root string
	// Err is the cause.
	Err error
	// Hint, if not empty, says what to do about it.
	Hint string
}

func (e *StartError) Error() string {
	var b strings.Builder
	b.WriteString("sandbox: ")
	b.WriteString(e.Op)
	if e.Path != "" {
		b.WriteString(" ")
		b.WriteString(e.Path)
	}
	if (e.Op == "dir" || e.Op == "exec") && e.Root != "" {
		fmt.Fprintf(&b, " (inside root %s)", e.Root)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

func (e *StartError) Unwrap() error { return e.Err }

// initConfig is what Run sends to the init that runs as pid 1 inside the
// namespaces, before it execs the step.
type initConfig struct {
	Root string
	Dir  string
	Argv []string
	Env  []string
	// Check makes init stop after entering the root (Available).
	Check  bool
	Limits Limits
	// MemoryRlimit: no memory cgroup holds the step, so RLIMIT_AS
	// bounds it.
	MemoryRlimit bool
}

// initReport is what init sends back when it fails before the exec.
type initReport struct {
	Op     string
	Path   string
	Errno  int
	Msg    string // set instead of Errno for errors without an errno
	Exists bool   // for "exec": Path exists inside the root

	// Set when the step ran: how it ended and what init found after.
	Done     bool
	Code     int   // exit status
	Signal   int   // the signal that killed it, or 0
	RootFull bool  // the root's tmpfs was full
	RootUsed int64 // bytes used in the root's tmpfs
	CopyOut  string
	NoSpace  bool  // CopyOut failed for want of space
	MaxRSS   int64 // the step's peak resident size, bytes (getrusage)
}

const (
	// initArg0 is argv[0] of the re-executed init (see init.go).
	initArg0 = "bootchain-sandbox-init"
	// Descriptors of the init's pipes, as set up by ExtraFiles.
	configFD = 3
	reportFD = 4
)

// Run runs cfg.Argv inside fresh user, mount, pid, network, UTS, IPC and
// cgroup namespaces with cfg.Root as its root directory, and waits for it.
//
// It returns nil if the step's pid 1 exited with status 0, an *ExitError
// if it exited otherwise, an error matching ErrTimeout if cfg.Timeout
// expired, the context's error (wrapped) if ctx was cancelled, and a
// *StartError if the step could not be started. In every case no process
// of the step is left when Run returns.
//
// Run must not be called from a goroutine that has locked its OS thread
// and may exit without unlocking it: the parent-death signal is tied to
// the thread that starts the step.
func Run(ctx context.Context, cfg Config) error {
	return run(ctx, cfg, false)
}

// Available reports whether Run can work on this machine and for this
// user, by entering namespaces and a scratch root for real. The error is
// a *StartError with one line saying what is missing and what to do.
func Available() error {
	dir, err := os.MkdirTemp("", "bootchain-sandbox-check-")
	if err != nil {
		return &StartError{Op: "root", Err: err}
	}
	defer os.RemoveAll(dir)
	return run(context.Background(), Config{Root: dir, Argv: []string{"/check"}, Timeout: time.Minute}, true)
}

func run(ctx context.Context, cfg Config, check bool) (runErr error) {
	ic, err := validate(cfg)
	if err != nil {
		return err
	}
	ic.Check = check
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sandbox: %s: %w", cfg.Argv[0], err)
	}
	configR, configW, err := os.Pipe()
	if err != nil {
		return &StartError{Op: "namespaces", Err: err}
	}
	defer configR.Close()
	defer configW.Close()
	reportR, reportW, err := os.Pipe()
	if err != nil {
		return &StartError{Op: "namespaces", Err: err}
	}
	defer reportR.Close()
	defer reportW.Close()

	stdout, stderr := cfg.Stdout, cfg.Stderr
	if stderr == nil {
		stderr = stdout
	}
	cg := newStepCgroup(ic.Limits)
	defer cg.remove()
	// Under RLIMIT_AS alone, what the step says is the best evidence
	// that it ran out of memory: keep the end of it.
	var tail *tailWriter
	if cg.memDir == "" {
		stdout, stderr, tail = keepTail(stdout, stderr)
	}
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{initArg0},
		Env:        []string{},
		Dir:        "/",
		Stdin:      nil, // /dev/null
		Stdout:     stdout,
		Stderr:     stderr,
		ExtraFiles: []*os.File{configR, reportW}, // fds 3 and 4
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID |
				unix.CLONE_NEWNET | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWCGROUP,
			UidMappings: idMap(os.Getuid()),
			GidMappings: idMap(os.Getgid()),
			// Unprivileged callers may only write gid_map with setgroups denied.
			GidMappingsEnableSetgroups: false,
			Pdeathsig:                  syscall.SIGKILL,
		},
	}

	// The parent-death signal fires when the thread that forked exits;
	// keep this goroutine on its thread until the step is gone.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	if err := cmd.Start(); err != nil {
		return &StartError{Op: "namespaces", Root: cfg.Root, Err: unwrapStart(err), Hint: namespaceHint()}
	}
	configR.Close()
	reportW.Close()
	// init waits for its configuration: it is in the step's cgroups
	// before it or the step can fork or allocate.
	if cg.add(cmd.Process.Pid) == nil {
		defer func() {
			var lim *LimitError
			if runErr == nil || errors.As(runErr, &lim) {
				return
			}
			switch {
			case cg.memoryHit():
				runErr = &LimitError{Argv0: cfg.Argv[0], Limit: "memory", Value: MiB(ic.Limits.Memory) + ", " + cg.memBy, Err: runErr}
			case cg.pidsHit():
				runErr = &LimitError{Argv0: cfg.Argv[0], Limit: "pids", Value: strconv.Itoa(ic.Limits.Pids) + ", " + cg.pidsBy, Err: runErr}
			}
		}()
	}
	ic.MemoryRlimit = cg.memDir == ""
	payload, err := json.Marshal(ic)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return &StartError{Op: "config", Root: cfg.Root, Err: err}
	}

	go func() {
		configW.Write(payload) // an early init failure is reported on the report pipe
		configW.Close()
	}()
	reported := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(reportR)
		reported <- b
	}()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	var timeout <-chan time.Time
	if cfg.Timeout > 0 {
		t := time.NewTimer(cfg.Timeout)
		defer t.Stop()
		timeout = t.C
	}

	var killedBy error
	var waitErr error
	select {
	case waitErr = <-waited:
	case <-ctx.Done():
		killedBy = fmt.Errorf("sandbox: %s: %w", cfg.Argv[0], ctx.Err())
	case <-timeout:
		killedBy = fmt.Errorf("sandbox: %s: %w after %v; its pid namespace was killed", cfg.Argv[0], ErrTimeout, cfg.Timeout)
	}
	if killedBy != nil {
		// SIGKILL to pid 1 of the namespace: the kernel then kills every
		// other process in it, and pid 1 is only reaped after they are gone.
		cmd.Process.Kill()
		<-waited
		return killedBy
	}

	if rep := <-reported; len(rep) > 0 {
		return reportError(cfg, ic, rep, tail)
	}
	if waitErr == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		ws, ok := ee.Sys().(syscall.WaitStatus)
		if ok && ws.Signaled() {
			return &ExitError{Argv0: cfg.Argv[0], Code: -1, Signal: ws.Signal()}
		}
		return &ExitError{Argv0: cfg.Argv[0], Code: ee.ExitCode()}
	}
	return fmt.Errorf("sandbox: %s: %w", cfg.Argv[0], waitErr)
}

// validate checks cfg on the host side and returns what init needs.
func validate(cfg Config) (initConfig, error) {
	if len(cfg.Argv) == 0 || cfg.Argv[0] == "" {
		return initConfig{}, &StartError{Op: "config", Root: cfg.Root, Err: errors.New("empty Argv: expected the path of a program inside the root")}
	}
	for i, s := range append(append([]string{cfg.Dir}, cfg.Argv...), cfg.Env...) {
		if strings.IndexByte(s, 0) >= 0 {
			return initConfig{}, &StartError{Op: "config", Root: cfg.Root, Err: fmt.Errorf("string %d of Dir, Argv and Env contains a NUL byte: %q", i, s)}
		}
	}
	if cfg.Root == "" {
		return initConfig{}, &StartError{Op: "root", Err: errors.New("Config.Root is empty: expected a host directory")}
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return initConfig{}, &StartError{Op: "root", Path: cfg.Root, Err: err}
	}
	fi, err := os.Stat(root)
	if err != nil {
		return initConfig{}, &StartError{Op: "root", Path: cfg.Root, Err: err}
	}
	if !fi.IsDir() {
		return initConfig{}, &StartError{Op: "root", Path: cfg.Root, Err: fmt.Errorf("is a %v, expected a directory", fi.Mode().Type())}
	}
	dir := cfg.Dir
	if dir == "" {
		dir = "/"
	}
	dir = filepath.Join("/", dir)
	env := cfg.Env
	if env == nil {
		env = []string{}
	}
	return initConfig{Root: root, Dir: dir, Argv: cfg.Argv, Env: env, Limits: cfg.Limits.Or(DefaultLimits)}, nil
}

// idMap maps the caller's id to 0 inside the user namespace. Root maps
// all ids onto themselves instead, so files in the root keep their owners;
// either way the step's capabilities are confined to its namespaces (no
// mknod, no mounting host devices, no kernel modules).
func idMap(id int) []syscall.SysProcIDMap {
	if os.Geteuid() == 0 && id == 0 {
		// 1<<31-1 ids: all that an int holds on 32-bit hosts, and far
		// more than any distribution allocates.
		return []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1<<31 - 1}}
	}
	return []syscall.SysProcIDMap{{ContainerID: 0, HostID: id, Size: 1}}
}

// unwrapStart strips os/exec's "fork/exec /proc/self/exe:" wrapping, which
// names our init rather than anything the caller knows.
func unwrapStart(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func namespaceHint() string {
	if os.Geteuid() == 0 {
		return "this kernel or container does not let root create user namespaces (check user.max_user_namespaces, seccomp)"
	}
	return "unprivileged user namespaces look disabled: enable them (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces>0, " +
		"kernel.apparmor_restrict_unprivileged_userns=0) or run as root"
}

// reportError turns init's report into how the step ended, or a
// *StartError.
func reportError(cfg Config, ic initConfig, rep []byte, tail *tailWriter) error {
	lim := ic.Limits
	var r initReport
	if err := json.Unmarshal(bytes.TrimSpace(rep), &r); err != nil {
		return &StartError{Op: "namespaces", Root: cfg.Root, Err: fmt.Errorf("unreadable report from sandbox init: %q", rep)}
	}
	if r.Done {
		var err error
		switch {
		case r.Signal != 0:
			err = &ExitError{Argv0: cfg.Argv[0], Code: -1, Signal: syscall.Signal(r.Signal)}
		case r.Code != 0:
			err = &ExitError{Argv0: cfg.Argv[0], Code: r.Code}
		}
		if r.RootFull {
			// Even a step that exits 0 may have lost a write.
			err = &LimitError{Argv0: cfg.Argv[0], Limit: "root size", Value: MiB(lim.RootSize), Err: err}
		} else if err != nil && ic.MemoryRlimit {
			if why := rlimitASHit(lim.Memory, r.MaxRSS, tail); why != "" {
				err = &LimitError{Argv0: cfg.Argv[0], Limit: "memory", Value: MiB(lim.Memory) + " per process, " + byRlimitAS, Err: err, Note: why}
			}
		}
		if r.CopyOut != "" {
			var cause error = errors.New(r.CopyOut)
			if r.NoSpace {
				cause = fmt.Errorf("%s: %w", r.CopyOut, syscall.ENOSPC)
			}
			cerr := &CopyOutError{Root: cfg.Root, Size: r.RootUsed, Err: cause}
			if err == nil {
				return cerr
			}
			return errors.Join(err, cerr)
		}
		return err
	}
	var cause error = errors.New(r.Msg)
	if r.Errno != 0 {
		cause = syscall.Errno(r.Errno)
	}
	e := &StartError{Op: r.Op, Path: r.Path, Root: cfg.Root, Err: cause}
	switch {
	case r.Op == "exec" && r.Errno == int(syscall.ENOENT) && r.Exists:
		e.Hint = "the file exists, so its ELF interpreter is missing: steps must be static executables or bring their loader"
	case r.Op == "exec" && r.Errno == int(syscall.ENOENT):
		e.Hint = "expected the program at that path inside the root"
	case r.Op == "mount" || r.Op == "namespaces":
		e.Hint = namespaceHint()
	}
	return e
}

// CopyOutError reports that the files the step left could not be copied
// from its tmpfs back to Config.Root; errors.Is(err, syscall.ENOSPC) says
// whether the host's file system was full.
type CopyOutError struct {
	Root string // Config.Root
	Size int64  // bytes the step's root held
	Err  error
}

func (e *CopyOutError) Error() string {
	return fmt.Sprintf("sandbox: copying the step's root (%s) back to %s: %v", MiB(e.Size), e.Root, e.Err)
}

func (e *CopyOutError) Unwrap() error { return e.Err }
