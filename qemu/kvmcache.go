package qemu

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The KVM probe boots a kernel and costs seconds (5 s when KVM hangs, as
// it does under broken nested virtualisation), so its verdict is kept on
// disk per host: WithKVMProbeCache names the directory. The verdict is
// filed under the identity of everything it depends on: the host kernel
// (release and version), the QEMU binary, the kernel the probe boots, and
// /dev/kvm (device number, inode and change time, which a reboot or a
// reloaded module renews). When any of them changes, the probe runs again.

// WithKVMProbeCache sets the directory that keeps KVM probe verdicts per
// host identity (default: none, the probe runs once per process).
func WithKVMProbeCache(dir string) Option { return func(c *config) { c.kvmCache = dir } }

// probeKVM is ProbeKVM; tests count its calls.
var probeKVM = ProbeKVM

// kvmVerdict is a cached probe result.
type kvmVerdict struct {
	Identity kvmIdentity `json:"identity"`
	Usable   bool        `json:"usable"`
	Reason   string      `json:"reason,omitempty"` // why not, when not usable
	Probed   string      `json:"probed"`           // when, RFC 3339 (informational)
}

// kvmIdentity is what a probe's verdict depends on.
type kvmIdentity struct {
	HostKernel string `json:"host_kernel"` // uname release and version
	QEMU       string `json:"qemu"`        // path, size, mtime, inode
	Kernel     string `json:"kernel"`      // the kernel the probe boots: path, size, mtime, inode
	DevKVM     string `json:"dev_kvm"`     // rdev, inode, ctime of /dev/kvm, or "absent"
}

func fileIdentity(p string) string {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return p + " unreadable"
	}
	return fmt.Sprintf("%s size=%d mtime=%d.%09d ino=%d", p, st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Ino)
}

// devKVMPath is /dev/kvm; tests point it elsewhere.
var devKVMPath = "/dev/kvm"

func hostIdentity(qemu, kernel string) kvmIdentity {
	id := kvmIdentity{QEMU: fileIdentity(qemu), Kernel: fileIdentity(kernel), DevKVM: "absent"}
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		id.HostKernel = unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Version[:])
	}
	var st unix.Stat_t
	if err := unix.Stat(devKVMPath, &st); err == nil {
		id.DevKVM = fmt.Sprintf("rdev=%d:%d ino=%d ctime=%d.%09d", unix.Major(st.Rdev), unix.Minor(st.Rdev), st.Ino, st.Ctim.Sec, st.Ctim.Nsec)
	}
	return id
}

func (id kvmIdentity) key() string {
	b, _ := json.Marshal(id)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// probeKVMCached returns the KVM verdict for qemu and kernel: from this
// process's memory, else from the cache directory (when set), else by
// probing (and then remembering it in both). fresh says the probe ran in
// this call; cached says the verdict came from the directory.
func probeKVMCached(ctx context.Context, cfg *config, qemu, kernel string) (fresh, cached bool, err error) {
	if cfg.kvmCache == "" {
		fresh, err = probeKVMOnce(ctx, qemu, kernel, cfg.kvmProbeTimeout)
		return fresh, false, err
	}
	id := hostIdentity(qemu, kernel)
	file := filepath.Join(cfg.kvmCache, "kvm-"+id.key()+".json")
	probeCache.Lock()
	defer probeCache.Unlock()
	mem := qemu + "\x00" + kernel
	if err, ok := probeCache.m[mem]; ok {
		return false, false, err
	}
	remember := func(err error) {
		if probeCache.m == nil {
			probeCache.m = map[string]error{}
		}
		probeCache.m[mem] = err
	}
	if b, rerr := os.ReadFile(file); rerr == nil {
		var v kvmVerdict
		if json.Unmarshal(b, &v) == nil && v.Identity == id {
			if !v.Usable {
				err = errors.New(v.Reason)
			}
			remember(err)
			return false, true, err
		}
	}
	err = probeKVM(ctx, qemu, kernel, cfg.kvmProbeTimeout)
	if ctx.Err() != nil {
		return true, false, err // interrupted: no verdict to remember
	}
	remember(err)
	v := kvmVerdict{Identity: id, Usable: err == nil, Probed: time.Now().UTC().Format(time.RFC3339)}
	if err != nil {
		v.Reason = err.Error()
	}
	if werr := writeVerdict(cfg.kvmCache, filepath.Base(file), v); werr != nil {
		cfg.log.WithField("error", werr.Error()).Warn("could not keep the KVM probe's verdict; it will run again next time")
	}
	return true, false, err
}

// writeVerdict writes v to dir/name atomically.
func writeVerdict(dir, name string, v kvmVerdict) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-kvm-")
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// KVMError is --accel kvm on a host where KVM does not work: the probe's
// reason and what to check.
type KVMError struct{ Reason string }

func (e *KVMError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "qemu: --accel kvm: KVM does not work on this host (%s); check that /dev/kvm exists and this user can open it read-write (ls -l /dev/kvm; the kvm group), that the kvm_intel or kvm_amd module is loaded (lsmod | grep kvm) with VT-x/AMD-V enabled in the firmware (grep -cE 'vmx|svm' /proc/cpuinfo), and, inside a VM, that nested virtualisation is on; or run with --accel tcg (slower, always works)", e.Reason)
	return b.String()
}
