package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Each step is held in a cgroup of its own when the host lets bootchain
// make one (as root, or where a cgroup was delegated to the caller): a
// pids cgroup bounds its processes and a memory cgroup its memory, on
// cgroup v2 (one directory) or on v1's pids and memory hierarchies (one
// directory each). Rlimits stand in where no cgroup can be made, and
// cannot do as well: RLIMIT_NPROC does not bind root (the kernel exempts
// uid 0), and RLIMIT_AS bounds each process's address space, not the
// memory the step uses, and leaves no trace when it is reached.
//
// A step's cgroup is made below the caller's own cgroup first, so that
// whatever limits the caller runs under still hold, and at the root of
// the hierarchy otherwise (on v2, a cgroup that holds processes cannot
// give controllers to its children).

var cgroupSeq atomic.Int64

// memoryCgroups is whether Run may limit memory with a cgroup; tests turn
// it off to try the RLIMIT_AS path where a cgroup would be used.
var memoryCgroups = true

// Mechanism names, as reported in LimitError.Value and Enforced.
const (
	byRlimitAS    = "RLIMIT_AS"
	byRlimitNproc = "RLIMIT_NPROC"
)

// stepCgroup is the cgroup (or cgroups, on v1) holding one step.
type stepCgroup struct {
	dirs    []string // every directory made, each with a cgroup.procs
	pidsDir string   // the one with pids.max, or ""
	pidsBy  string   // "cgroup v2 pids", "cgroup v1 pids"
	memDir  string   // the one with the memory limit, or ""
	memBy   string   // "cgroup v2 memory", "cgroup v1 memory"
	memV2   bool
}

// newStepCgroup makes the cgroups for a step with limits l, as many as
// this host allows; the result may hold none.
func newStepCgroup(l Limits) *stepCgroup {
	c := &stepCgroup{}
	name := fmt.Sprintf("bootchain-step-%d-%d", os.Getpid(), cgroupSeq.Add(1))
	c.pidsDir, c.pidsBy = c.make(name, "pids", func(dir string, v2 bool) error {
		return writeFile(dir, "pids.max", strconv.Itoa(l.Pids))
	})
	if memoryCgroups {
		c.memDir, c.memBy = c.make(name, "memory", func(dir string, v2 bool) error {
			n := strconv.FormatInt(l.Memory, 10)
			if v2 {
				c.memV2 = true
				if err := writeFile(dir, "memory.max", n); err != nil {
					return err
				}
				// Swap would stretch the limit; not every kernel has it.
				writeFile(dir, "memory.swap.max", "0")
				return nil
			}
			if err := writeFile(dir, "memory.limit_in_bytes", n); err != nil {
				return err
			}
			// memory+swap, where swap is accounted (it must not be below
			// the memory limit, hence second).
			writeFile(dir, "memory.memsw.limit_in_bytes", n)
			return nil
		})
	}
	return c
}

// make makes a cgroup called name with controller and sets it up, trying
// each place the controller can be had; it returns the directory and the
// mechanism, or "" when no place works.
func (c *stepCgroup) make(name, controller string, setup func(dir string, v2 bool) error) (string, string) {
	for _, b := range cgroupBases(controller) {
		dir := filepath.Join(b.dir, name)
		made := false
		for _, d := range c.dirs {
			made = made || d == dir
		}
		if !made {
			cleanStaleCgroups(b.dir)
			if err := os.Mkdir(dir, 0o755); err != nil {
				continue
			}
		}
		if err := setup(dir, b.v2); err != nil {
			if !made {
				removeCgroup(dir)
			}
			continue
		}
		if !made {
			c.dirs = append(c.dirs, dir)
		}
		v := "v1"
		if b.v2 {
			v = "v2"
		}
		return dir, "cgroup " + v + " " + controller
	}
	return "", ""
}

// add moves pid into the step's cgroups. On failure the step is held by
// none of them and the rlimits stand in.
func (c *stepCgroup) add(pid int) error {
	for _, d := range c.dirs {
		if err := writeFile(d, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			c.pidsDir, c.pidsBy, c.memDir, c.memBy = "", "", "", ""
			return err
		}
	}
	return nil
}

// pidsHit says whether a fork failed for the pids limit.
func (c *stepCgroup) pidsHit() bool {
	if c.pidsDir == "" {
		return false
	}
	return counter(filepath.Join(c.pidsDir, "pids.events"), "max") > 0
}

// memoryHit says whether the step's memory reached its limit and could
// not be reclaimed: the kernel then killed a process or failed an
// allocation. Reaching the limit alone is not enough (page cache is
// reclaimed at the limit, and the copy of the root makes some).
func (c *stepCgroup) memoryHit() bool {
	if c.memDir == "" {
		return false
	}
	if c.memV2 {
		ev := filepath.Join(c.memDir, "memory.events")
		return counter(ev, "oom") > 0 || counter(ev, "oom_kill") > 0
	}
	oc := filepath.Join(c.memDir, "memory.oom_control")
	if n := counter(oc, "oom_kill"); n >= 0 {
		return n > 0 || counter(oc, "under_oom") > 0
	}
	// Kernels before 4.13 do not count kills: that the limit was
	// reached must do.
	return counter(filepath.Join(c.memDir, "memory.failcnt"), "") > 0
}

// remove deletes the step's cgroups. The step's processes are dead when
// Run returns, but the kernel may still be releasing them (EBUSY): retry
// for a while.
func (c *stepCgroup) remove() {
	for _, d := range c.dirs {
		removeCgroup(d)
	}
}

func removeCgroup(dir string) {
	for i := 0; i < 200; i++ {
		err := os.Remove(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) || !errors.Is(err, syscall.EBUSY) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// counter reads the value of key in a cgroup file of "key value" lines,
// or the file's single number when key is ""; -1 when absent.
func counter(file, key string) int64 {
	b, err := os.ReadFile(file)
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if key == "" && len(f) == 1 || len(f) == 2 && f[0] == key {
			n, err := strconv.ParseInt(f[len(f)-1], 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

func writeFile(dir, name, value string) error {
	return os.WriteFile(filepath.Join(dir, name), []byte(value), 0o644)
}

// cgroupBase is a directory below which a cgroup with some controller
// can be made.
type cgroupBase struct {
	dir string
	v2  bool
}

// cgroupBases lists where a cgroup with controller may be made: for each
// mounted hierarchy that has it (v2 first), the caller's own cgroup, then
// the hierarchy's root.
func cgroupBases(controller string) []cgroupBase {
	own := ownCgroups()
	var bases []cgroupBase
	for _, m := range cgroupMounts() {
		if !m.v2 && !m.controllers[controller] {
			continue
		}
		key := controller
		if m.v2 {
			key = ""
		}
		p, ok := own[key]
		var dirs []string
		if rel, in := strings.CutPrefix(p, m.root); ok && in {
			dirs = append(dirs, filepath.Join(m.dir, rel))
		}
		dirs = append(dirs, m.dir)
		for i, d := range dirs {
			if i > 0 && d == dirs[0] {
				continue
			}
			if m.v2 && !hasV2Controller(d, controller) {
				continue
			}
			bases = append(bases, cgroupBase{dir: d, v2: m.v2})
		}
	}
	return bases
}

// hasV2Controller says whether dir's children get controller.
func hasV2Controller(dir, controller string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	return err == nil && strings.Contains(" "+strings.TrimSpace(string(b))+" ", " "+controller+" ")
}

type cgroupMount struct {
	dir         string // mount point
	root        string // the cgroup path mounted there
	v2          bool
	controllers map[string]bool // v1
}

// cgroupMounts reads the mounted cgroup hierarchies, v2 first.
func cgroupMounts() []cgroupMount {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	return parseMountinfo(f)
}

// parseMountinfo reads the cgroup hierarchies from a mountinfo table,
// v2 first.
func parseMountinfo(r io.Reader) []cgroupMount {
	var v1, v2 []cgroupMount
	s := bufio.NewScanner(r)
	for s.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(s.Text(), " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(tail) < 3 {
			continue
		}
		m := cgroupMount{dir: unescapeMount(fields[4]), root: unescapeMount(fields[3])}
		switch tail[0] {
		case "cgroup2":
			m.v2 = true
			v2 = append(v2, m)
		case "cgroup":
			m.controllers = map[string]bool{}
			for _, o := range strings.Split(tail[2], ",") {
				m.controllers[o] = true
			}
			v1 = append(v1, m)
		}
	}
	return append(v2, v1...)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	if u, err := strconv.Unquote(`"` + strings.ReplaceAll(s, `"`, `\"`) + `"`); err == nil {
		return u
	}
	return s
}

// ownCgroups maps each v1 controller, and "" for v2, to the caller's
// cgroup path.
func ownCgroups() map[string]string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil
	}
	return parseProcCgroup(string(b))
}

// parseProcCgroup reads /proc/PID/cgroup: "ID:CONTROLLERS:PATH" lines,
// "0::PATH" for v2.
func parseProcCgroup(text string) map[string]string {
	own := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[0] == "0" && f[1] == "" {
			own[""] = f[2]
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			own[c] = f[2]
		}
	}
	return own
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
		// The kernel may still be releasing its last processes (EBUSY
		// with none listed): wait for that, not for live ones.
		dir := filepath.Join(base, e.Name())
		if procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs")); err == nil && len(strings.TrimSpace(string(procs))) == 0 {
			removeCgroup(dir)
		}
	}
}

// Enforced says how Run enforces the memory and process limits on this
// machine, for this user: a cgroup ("cgroup v1 memory") or an rlimit
// ("RLIMIT_AS").
type Enforced struct {
	Memory string
	Pids   string
}

// Enforcement finds out how Run would enforce the limits here, by making
// (and removing) a step's cgroups.
func Enforcement() Enforced {
	c := newStepCgroup(DefaultLimits)
	defer c.remove()
	return c.enforced()
}

func (c *stepCgroup) enforced() Enforced {
	e := Enforced{Memory: c.memBy, Pids: c.pidsBy}
	if e.Memory == "" {
		e.Memory = byRlimitAS
	}
	if e.Pids == "" {
		e.Pids = byRlimitNproc
	}
	return e
}
