package sandbox

import (
	"encoding/json"
	"errors"
	"os"
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
	// pivot_root needs the new root to be a mount point; recursive so that
	// mounts the caller placed inside the root stay visible.
	if err := unix.Mount(cfg.Root, cfg.Root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		fail(initReport{Op: "mount", Path: cfg.Root}, err)
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
	err := unix.Exec(cfg.Argv[0], cfg.Argv, cfg.Env)
	_, statErr := os.Stat(cfg.Argv[0])
	fail(initReport{Op: "exec", Path: cfg.Argv[0], Exists: statErr == nil}, err)
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
