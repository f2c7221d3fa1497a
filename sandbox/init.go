package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// This file is the side of the sandbox that runs inside the namespaces,
// as pid 1, in a copy of the calling program re-executed from
// /proc/self/exe with argv[0] = initArg0. os/exec can clone into
// namespaces and chroot, but it cannot pivot the root, make mounts private
// or close descriptors it did not open; this init does, then execs the
// step, which keeps pid 1.

func init() {
	if len(os.Args) == 1 && os.Args[0] == initArg0 && os.Getpid() == 1 {
		stepInit() // does not return
	}
}

// stepInit prepares the root and execs the step. Failures are reported as
// one JSON initReport on reportFD, which is close-on-exec, so a successful
// exec leaves the parent reading end-of-file.
func stepInit() {
	report := os.NewFile(reportFD, "sandbox-report")
	fail := func(r initReport, err error) {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			r.Errno = int(errno)
		} else if err != nil {
			r.Msg = err.Error()
		}
		b, _ := json.Marshal(r)
		report.Write(b)
		os.Exit(127)
	}
	defer func() {
		if p := recover(); p != nil {
			fail(initReport{Op: "namespaces", Msg: "sandbox init panicked"}, nil)
		}
	}()

	// No descriptor but 0, 1 and 2 may reach the step: one inherited from
	// whoever started the caller (without close-on-exec) could name a
	// host directory and lead out of the root.
	if err := closeFrom(3); err != nil {
		fail(initReport{Op: "namespaces"}, err)
	}

	var cfg initConfig
	cf := os.NewFile(configFD, "sandbox-config")
	if err := json.NewDecoder(cf).Decode(&cfg); err != nil {
		fail(initReport{Op: "namespaces"}, err)
	}
	cf.Close()

	// Nothing mounted or unmounted below may propagate to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fail(initReport{Op: "mount", Path: "/"}, err)
	}
	// The step runs in a tmpfs of fixed size (its root size limit) over
	// the host directory, which init keeps open to copy the root in now
	// and back out when the step has ended. No setuid bit and no device
	// node of the tmpfs means anything to the kernel.
	host, err := os.OpenRoot(cfg.Root)
	if err != nil {
		fail(initReport{Op: "root", Path: cfg.Root}, err)
	}
	if err := unix.Mount("tmpfs", cfg.Root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV,
		fmt.Sprintf("size=%d,mode=0755", cfg.Limits.RootSize)); err != nil {
		fail(initReport{Op: "mount", Path: cfg.Root}, err)
	}
	if err := copyTree(host.FS(), cfg.Root, false); err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			fail(initReport{Op: "root", Path: cfg.Root, Msg: fmt.Sprintf("the step's root does not fit its size limit (%s)", MiB(cfg.Limits.RootSize))}, nil)
		}
		fail(initReport{Op: "root", Path: cfg.Root}, err)
	}
	if err := unix.Chdir(cfg.Root); err != nil {
		fail(initReport{Op: "mount", Path: cfg.Root}, err)
	}
	// Unlike chroot, which root inside the namespace could undo, pivoting
	// and detaching the old root leaves no path back to the host tree.
	if err := unix.PivotRoot(".", "."); err != nil {
		fail(initReport{Op: "mount", Path: cfg.Root}, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		fail(initReport{Op: "mount", Path: cfg.Root}, err)
	}
	if err := unix.Chdir("/"); err != nil {
		fail(initReport{Op: "mount", Path: "/"}, err)
	}

	if err := unix.Sethostname([]byte(Hostname)); err != nil {
		fail(initReport{Op: "namespaces"}, err)
	}
	if err := unix.Setdomainname([]byte(Hostname)); err != nil {
		fail(initReport{Op: "namespaces"}, err)
	}
	unix.Umask(Umask)

	if cfg.Check {
		os.Exit(0)
	}
	if err := unix.Chdir(cfg.Dir); err != nil {
		fail(initReport{Op: "dir", Path: cfg.Dir}, err)
	}
	pid, err := startStep(cfg)
	if err != nil {
		_, statErr := os.Stat(cfg.Argv[0])
		fail(initReport{Op: "exec", Path: cfg.Argv[0], Exists: statErr == nil}, err)
	}
	var ws syscall.WaitStatus
	var ru syscall.Rusage
	for {
		_, err := syscall.Wait4(pid, &ws, 0, &ru)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			fail(initReport{Op: "namespaces", Msg: "waiting for the step: " + err.Error()}, nil)
		}
		if ws.Exited() || ws.Signaled() {
			break
		}
	}
	// The step was pid 1 of its own pid namespace: every process it left
	// died with it, and nothing writes to the root any more.
	r := initReport{Done: true, Code: ws.ExitStatus(), MaxRSS: ru.Maxrss << 10}
	if ws.Signaled() {
		r.Code, r.Signal = -1, int(ws.Signal())
	}
	var st unix.Statfs_t
	if unix.Statfs("/", &st) == nil {
		free := int64(st.Bavail) * st.Bsize
		r.RootUsed = int64(st.Blocks-st.Bfree) * st.Bsize
		r.RootFull = free < 1<<20 || free < cfg.Limits.RootSize/100
	}
	err = clearDir(host)
	if err == nil {
		err = copyTree(os.DirFS("/"), host, true)
	}
	if err != nil {
		r.CopyOut, r.NoSpace = err.Error(), errors.Is(err, syscall.ENOSPC)
	}
	b, _ := json.Marshal(r)
	report.Write(b)
	os.Exit(0)
}

// startStep starts the step as pid 1 of a pid namespace of its own, with
// its memory and process limits, and returns its pid (in init's
// namespace). The limits are set on the step alone, not on init, which
// must still copy the root out after the step: the step is stopped at
// its first instruction (ptrace) while they are set.
func startStep(cfg initConfig) (int, error) {
	runtime.LockOSThread() // ptrace requests come from the tracing thread
	attr := &syscall.ProcAttr{
		Dir:   cfg.Dir,
		Env:   cfg.Env,
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID, Pdeathsig: syscall.SIGKILL, Ptrace: true},
	}
	pid, err := syscall.ForkExec(cfg.Argv[0], cfg.Argv, attr)
	if err == syscall.EPERM {
		// No ptrace here: the limits go on init too, and so on the step.
		if err := setLimits(0, cfg); err != nil {
			return 0, err
		}
		attr.Sys.Ptrace = false
		return syscall.ForkExec(cfg.Argv[0], cfg.Argv, attr)
	}
	if err != nil {
		return 0, err
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, syscall.WALL, nil); err != nil || !ws.Stopped() {
		syscall.Kill(pid, syscall.SIGKILL)
		return 0, fmt.Errorf("step did not stop at exec: %v", err)
	}
	if err := setLimits(pid, cfg); err != nil {
		syscall.Kill(pid, syscall.SIGKILL)
		return 0, err
	}
	if err := syscall.PtraceDetach(pid); err != nil {
		syscall.Kill(pid, syscall.SIGKILL)
		return 0, err
	}
	return pid, nil
}

// setLimits sets the process limit of pid (0: init itself), and its
// memory limit unless a cgroup bounds its memory, hard and soft, so that
// the step cannot raise them. RLIMIT_NPROC is set even when a pids
// cgroup holds the step: for a caller that is not root it binds too.
func setLimits(pid int, cfg initConfig) error {
	type rlim struct {
		res int
		n   uint64
	}
	rls := []rlim{{unix.RLIMIT_NPROC, uint64(cfg.Limits.Pids)}}
	if cfg.MemoryRlimit {
		rls = append(rls, rlim{unix.RLIMIT_AS, uint64(cfg.Limits.Memory)})
	}
	for _, rl := range rls {
		lim := unix.Rlimit{Cur: rl.n, Max: rl.n}
		if err := unix.Prlimit(pid, rl.res, &lim, nil); err != nil {
			return fmt.Errorf("setting limit %d: %w", rl.res, err)
		}
	}
	return nil
}

// clearDir removes everything in r.
func clearDir(r *os.Root) error {
	ents, err := fs.ReadDir(r.FS(), ".")
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := r.RemoveAll(e.Name()); err != nil {
			return err
		}
	}
	return nil
}

// copyTree copies the directories, regular files and symbolic links of
// from into to (a host path, or an *os.Root). plain gives files the mode
// they get on the host (0755 when executable, else 0644) instead of their
// own; anything else (a FIFO, a socket, a device node) is left behind.
func copyTree(from fs.FS, to any, plain bool) error {
	var dst *os.Root
	switch t := to.(type) {
	case *os.Root:
		dst = t
	case string:
		r, err := os.OpenRoot(t)
		if err != nil {
			return err
		}
		defer r.Close()
		dst = r
	}
	return fs.WalkDir(from, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		mode := fi.Mode().Perm()
		if plain {
			mode = 0o644
			if fi.IsDir() || fi.Mode()&0o111 != 0 {
				mode = 0o755
			}
		}
		switch fi.Mode().Type() {
		case fs.ModeDir:
			if err := dst.Mkdir(p, 0o700); err != nil {
				return err
			}
			return dst.Chmod(p, mode)
		case fs.ModeSymlink:
			target, err := fs.ReadLink(from, p)
			if err != nil {
				return err
			}
			return dst.Symlink(target, p)
		case 0:
			return copyFile(from, dst, p, mode)
		}
		return nil
	})
}

func copyFile(from fs.FS, dst *os.Root, p string, mode fs.FileMode) error {
	in, err := from.Open(p)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := dst.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Chmod(mode)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// closeFrom marks every descriptor from fd up close-on-exec, including
// the report pipe, which must close when the step starts.
func closeFrom(fd int) error {
	err := unix.CloseRange(uint(fd), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	// Kernels before 5.11: walk the descriptor table (procfs is still the
	// host's here).
	entries, rerr := os.ReadDir("/proc/self/fd")
	if rerr != nil {
		return err
	}
	for _, e := range entries {
		var n int
		for _, c := range e.Name() {
			n = n*10 + int(c-'0')
		}
		if n >= fd {
			unix.CloseOnExec(n)
		}
	}
	return nil
}
