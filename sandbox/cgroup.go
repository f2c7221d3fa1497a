package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// A pids cgroup holds each step when the host lets bootchain make one (as
// root, on cgroup v2 with the pids controller or on v1's pids hierarchy).
// RLIMIT_NPROC alone does not bind root: the kernel exempts uid 0, and a
// step run by root runs as root of the host's user ids.

var cgroupSeq atomic.Int64

// pidsCgroup is one step's cgroup.
type pidsCgroup struct {
	dir   string
	procs string // the file a pid is written to, to move it in
}

// newPidsCgroup makes a cgroup whose pids.max is max, or returns nil when
// it cannot be made here.
func newPidsCgroup(max int) *pidsCgroup {
	name := fmt.Sprintf("bootchain-step-%d-%d", os.Getpid(), cgroupSeq.Add(1))
	for _, base := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/pids"} {
		if !hasPids(base) {
			continue
		}
		cleanStaleCgroups(base)
		dir := filepath.Join(base, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			continue
		}
		cg := &pidsCgroup{dir: dir, procs: filepath.Join(dir, "cgroup.procs")}
		if os.WriteFile(filepath.Join(dir, "pids.max"), []byte(strconv.Itoa(max)), 0o644) != nil {
			cg.remove()
			continue
		}
		return cg
	}
	return nil
}

// hasPids says whether base is a cgroup directory with a pids controller
// for its children.
func hasPids(base string) bool {
	if b, err := os.ReadFile(filepath.Join(base, "cgroup.subtree_control")); err == nil {
		return strings.Contains(" "+strings.TrimSpace(string(b))+" ", " pids ")
	}
	// v1: the pids hierarchy has pids.max in its children only.
	_, err := os.Stat(filepath.Join(base, "tasks"))
	return err == nil && filepath.Base(base) == "pids"
}

// add moves pid into the cgroup.
func (c *pidsCgroup) add(pid int) error {
	return os.WriteFile(c.procs, []byte(strconv.Itoa(pid)), 0o644)
}

// hit says whether a fork failed for the limit.
func (c *pidsCgroup) hit() bool {
	b, err := os.ReadFile(filepath.Join(c.dir, "pids.events"))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) == 2 && f[0] == "max" && f[1] != "0"
}

// remove deletes the cgroup. The step's processes are dead when Run
// returns, but the kernel may still be releasing them (EBUSY): retry
// for a while.
func (c *pidsCgroup) remove() {
	for i := 0; i < 200; i++ {
		err := os.Remove(c.dir)
		if err == nil || errors.Is(err, os.ErrNotExist) || !errors.Is(err, syscall.EBUSY) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cleanStaleCgroups removes the empty cgroups of bootchain processes that
// were killed before they could (SIGKILL runs no cleanup).
func cleanStaleCgroups(base string) {
	ents, _ := os.ReadDir(base)
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), "bootchain-step-")
		if !ok || !e.IsDir() {
			continue
		}
		pid, _, _ := strings.Cut(rest, "-")
		n, err := strconv.Atoi(pid)
		if err != nil || n == os.Getpid() || syscall.Kill(n, 0) == nil {
			continue
		}
		os.Remove(filepath.Join(base, e.Name())) // fails while not empty
	}
}
