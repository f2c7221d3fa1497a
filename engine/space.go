package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// A full scratch directory must say so: a stage0 tool that cannot write
// does not always notice, and the run then fails on a truncated file with
// a message about something else.

// NoSpaceError reports that the directory step roots are built in has too
// little space for a step's root.
type NoSpaceError struct {
	Dir       string // where roots are built ($TMPDIR, /dev/shm...)
	Free      int64  // bytes free there
	RootBytes int64  // bytes the step's root holds
	Err       error  // what failed for want of space, if known
}

func (e *NoSpaceError) Error() string {
	return fmt.Sprintf("no space left in %s (%s free, the step's root is %s); free some, or set TMPDIR to a directory with more",
		e.Dir, megabytes(e.Free), megabytes(e.RootBytes))
}

func (e *NoSpaceError) Unwrap() error { return e.Err }

// minFree is the room a step needs beyond its root: its outputs are
// copied back from the sandbox's tmpfs next to it.
const minFree = 1 << 20

// roomFor returns a *NoSpaceError when the scratch directory lacks the
// room to take back root's files after the step.
func (s *scratch) roomFor(root string) error {
	free, ok := freeBytes(s.dir)
	if !ok {
		return nil
	}
	if size := treeBytes(root); free < size+minFree {
		return &NoSpaceError{Dir: filepath.Dir(s.dir), Free: free, RootBytes: size}
	}
	return nil
}

// full returns a *NoSpaceError when a step that failed with err did so
// for want of space in the scratch directory, else nil.
func (s *scratch) full(root string, err error) error {
	free, ok := freeBytes(s.dir)
	if !ok || (free >= minFree && !errors.Is(err, syscall.ENOSPC)) {
		return nil
	}
	return &NoSpaceError{Dir: filepath.Dir(s.dir), Free: free, RootBytes: treeBytes(root), Err: err}
}

// freeBytes is the space an unprivileged writer has left in dir's file
// system.
func freeBytes(dir string) (int64, bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * st.Bsize, true
}

// onTmpfs says whether dir is on a tmpfs (in memory).
func onTmpfs(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.TMPFS_MAGIC
}

// treeBytes is the size of the regular files under dir, each counted once
// however many links it has.
func treeBytes(dir string) int64 {
	var n int64
	seen := map[uint64]bool{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		n += fi.Size()
		return nil
	})
	return n
}

// megabytes writes n bytes in MB, with a tenth below 10 MB so that small
// sizes stay apart ("0.3 MB free, the step's root is 0.6 MB", not "1 MB"
// and "1 MB"), rounded up so that a small root is not "0 MB".
func megabytes(n int64) string {
	if n < 10_000_000 {
		return fmt.Sprintf("%d.%d MB", (n+99_999)/1_000_000, (n+99_999)%1_000_000/100_000)
	}
	return fmt.Sprintf("%d MB", (n+999_999)/1_000_000)
}
