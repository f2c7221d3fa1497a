package sandbox_test

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bootchain/bootchain/sandbox"
	"golang.org/x/sys/unix"
)

// Environment variables by which the test binary talks to copies of
// itself: the rootless re-run (as nobody) and the parent-death helper.
const (
	envProbes = "BOOTCHAIN_SANDBOX_TEST_PROBES" // directory with prebuilt probes
	envHelper = "BOOTCHAIN_SANDBOX_TEST_HELPER" // "pdeath"
	envRoot   = "BOOTCHAIN_SANDBOX_TEST_ROOT"
	envToken  = "BOOTCHAIN_SANDBOX_TEST_TOKEN"
)

// probeArchs are the architectures the probe is built for; 386 is what
// the stage0 x86 steps are.
var probeArchs = []string{"386", "amd64"}

var (
	probeDir string // host directory holding probe-386, probe-amd64
	probeErr error  // why the probes could not be built
)

func TestMain(m *testing.M) {
	if os.Getenv(envHelper) == "pdeath" {
		pdeathHelper()
		return
	}
	probeDir = os.Getenv(envProbes)
	own := probeDir == ""
	if own {
		probeDir, probeErr = buildProbes()
	}
	code := m.Run()
	if own && probeDir != "" {
		os.RemoveAll(probeDir)
	}
	os.Exit(code)
}

// buildProbes builds testdata/probe as static executables, one per arch,
// into a new directory that other users can read (for the rootless run).
func buildProbes() (string, error) {
	gotool, err := exec.LookPath("go")
	if err != nil {
		gotool = filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(gotool); err != nil {
			return "", fmt.Errorf("go toolchain not found to build the probe: %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "bootchain-sandbox-probes-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return dir, err
	}
	for _, arch := range probeArchs {
		cmd := exec.Command(gotool, "build", "-trimpath", "-o", filepath.Join(dir, "probe-"+arch), "./testdata/probe")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
		if out, err := cmd.CombinedOutput(); err != nil {
			return dir, fmt.Errorf("go build probe for %s: %v\n%s", arch, err, out)
		}
	}
	return dir, nil
}

// requireSandbox skips the test when namespaces cannot be used here.
func requireSandbox(t testing.TB) {
	t.Helper()
	if probeErr != nil {
		t.Fatalf("probe: %v", probeErr)
	}
	if err := sandbox.Available(); err != nil {
		t.Skipf("namespaces unavailable for uid %d: %v", os.Getuid(), err)
	}
}

// newRoot makes a step root holding the probe for arch at /bin/probe and
// an empty /work directory.
func newRoot(t testing.TB, parent, arch string) string {
	t.Helper()
	root, err := os.MkdirTemp(parent, "root-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	for _, d := range []string{"bin", "work"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, filepath.Join(probeDir, "probe-"+arch), filepath.Join(root, "bin", "probe"), 0o755)
	return root
}

func copyFile(t testing.TB, from, to string, mode fs.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(to, mode); err != nil {
		t.Fatal(err)
	}
}

var tokens atomic.Int64

// newToken returns a string unique to this test process, placed in the
// argv of probe processes so that leftovers can be found on the host.
func newToken() string {
	return fmt.Sprintf("bootchain-sandbox-test-%d-%d", os.Getpid(), tokens.Add(1))
}

// leftovers lists host pids whose command line contains token.
func leftovers(token string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(token)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// hostSecret writes a file outside any step root and returns its path.
func hostSecret(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte("host-secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// listenLocal listens on TCP and UDP 127.0.0.1 (same port) on the host.
func listenLocal(t *testing.T) string {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		addr := l.Addr().String()
		u, err := net.ListenPacket("udp", addr)
		if err != nil {
			continue // port taken for UDP; try another
		}
		t.Cleanup(func() { u.Close() })
		return addr
	}
	t.Fatal("no port free for both TCP and UDP")
	return ""
}

// openDirNoCloexec opens dir as a descriptor that would survive exec.
func openDirNoCloexec(t *testing.T, dir string) int {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

type runCase struct {
	name string
	// argv follows /bin/probe.
	argv  []string
	env   []string
	dir   string
	setup func(t *testing.T, root string) []string // may return argv instead
	// wantCode is the expected exit status: 0 means Run returns nil.
	wantCode int
	wantOut  string // exact stdout, unless "-"
	wantErr  string // substring of stderr
	check    func(t *testing.T, root string)
}

func TestRun(t *testing.T) {
	requireSandbox(t)
	spawnToken := newToken()
	cases := []runCase{
		{name: "pid is 1 with no parent", argv: []string{"pid"}, wantOut: "pid=1 ppid=0\n"},
		{name: "runs as root of its user namespace", argv: []string{"id"}, wantOut: "uid=0 gid=0\n"},
		{name: "environment is exactly Env", argv: []string{"env"},
			env: []string{"A=1", "PATH=/bin", "EMPTY=", "SPACE=two words"}, wantOut: "A=1\nPATH=/bin\nEMPTY=\nSPACE=two words\n"},
		{name: "nil Env is empty", argv: []string{"env"}, wantOut: ""},
		{name: "argv is passed as given", argv: []string{"args", "x y", ""}, wantOut: "/bin/probe\nargs\nx y\n\n"},
		{name: "working directory", argv: []string{"cwd"}, dir: "/work", wantOut: "/work\n"},
		{name: "default working directory is /", argv: []string{"cwd"}, wantOut: "/\n"},
		{name: "fixed host name", argv: []string{"uname"}, wantOut: sandbox.Hostname + " " + sandbox.Hostname + "\n"},
		{name: "fixed umask", argv: []string{"umask"}, wantOut: "0022\n",
			setup: func(t *testing.T, root string) []string {
				old := syscall.Umask(0o077)
				t.Cleanup(func() { syscall.Umask(old) })
				return nil
			}},
		{name: "stdin is empty", argv: []string{"stdin"}, wantOut: "read=0 err=<nil>\n"},
		{name: "no inherited descriptors", argv: []string{"fds"}, wantOut: "",
			setup: func(t *testing.T, root string) []string {
				openDirNoCloexec(t, "/")
				openDirNoCloexec(t, filepath.Dir(root))
				return nil
			}},
		{name: "host file outside root unreadable", wantCode: 3, wantOut: "-",
			setup: func(t *testing.T, root string) []string { return []string{"read", hostSecret(t)} }},
		{name: "host /proc absent", argv: []string{"read", "/proc/self/status"}, wantCode: 3, wantOut: "-"},
		{name: "chroot escape finds no host", wantCode: 3, wantOut: "-",
			setup: func(t *testing.T, root string) []string { return []string{"escape", hostSecret(t)} }},
		{name: "no device nodes", argv: []string{"mknod", "/work/null"}, wantCode: 3, wantOut: "-"},
		{name: "no network", wantCode: 0, wantOut: "-",
			setup: func(t *testing.T, root string) []string { return []string{"net", listenLocal(t)} }},
		{name: "writes stay in root, owned by caller", argv: []string{"write", "/work/out.txt", "hello"},
			check: func(t *testing.T, root string) {
				p := filepath.Join(root, "work", "out.txt")
				b, err := os.ReadFile(p)
				if err != nil || string(b) != "hello" {
					t.Fatalf("read %s: %q, %v; expected \"hello\"", p, b, err)
				}
				fi, _ := os.Stat(p)
				st := fi.Sys().(*syscall.Stat_t)
				if int(st.Uid) != os.Getuid() || int(st.Gid) != os.Getgid() || fi.Mode().Perm() != 0o644 {
					t.Errorf("%s: uid %d gid %d mode %v; expected uid %d gid %d mode -rw-r--r--",
						p, st.Uid, st.Gid, fi.Mode().Perm(), os.Getuid(), os.Getgid())
				}
			}},
		{name: "exit status", argv: []string{"exit", "7"}, wantCode: 7},
		{name: "stderr separate", argv: []string{"no-such-mode"}, wantCode: 2, wantErr: "usage: probe"},
		{name: "children die with pid 1", argv: []string{"spawn", spawnToken, "exit"}, wantOut: "ready\n",
			check: func(t *testing.T, root string) {
				if _, err := os.Stat(filepath.Join(root, "ready")); err != nil {
					t.Fatalf("probe did not spawn its child: %v", err)
				}
				if pids := leftovers(spawnToken); len(pids) > 0 {
					t.Errorf("processes left after Run returned: %v", pids)
				}
			}},
	}
	for _, arch := range probeArchs {
		for _, tc := range cases {
			t.Run(arch+"/"+tc.name, func(t *testing.T) {
				root := newRoot(t, "", arch)
				argv := tc.argv
				if tc.setup != nil {
					if a := tc.setup(t, root); a != nil {
						argv = a
					}
				}
				var stdout, stderr bytes.Buffer
				err := sandbox.Run(context.Background(), sandbox.Config{
					Root:    root,
					Dir:     tc.dir,
					Argv:    append([]string{"/bin/probe"}, argv...),
					Env:     tc.env,
					Stdout:  &stdout,
					Stderr:  &stderr,
					Timeout: time.Minute,
				})
				checkExit(t, err, tc.wantCode, &stdout, &stderr)
				if tc.wantOut != "-" && stdout.String() != tc.wantOut {
					t.Errorf("stdout %q; expected %q", stdout.String(), tc.wantOut)
				}
				if !strings.Contains(stderr.String(), tc.wantErr) {
					t.Errorf("stderr %q; expected it to contain %q", stderr.String(), tc.wantErr)
				}
				if tc.check != nil {
					tc.check(t, root)
				}
			})
		}
	}
}

func checkExit(t *testing.T, err error, wantCode int, stdout, stderr *bytes.Buffer) {
	t.Helper()
	if wantCode == 0 {
		if err != nil {
			t.Fatalf("Run: %v; expected success\nstdout: %s\nstderr: %s", err, stdout, stderr)
		}
		return
	}
	var ee *sandbox.ExitError
	if !errors.As(err, &ee) || ee.Code != wantCode || ee.Signal != 0 {
		t.Fatalf("Run: %v (%T); expected *ExitError with status %d\nstdout: %s\nstderr: %s", err, err, wantCode, stdout, stderr)
	}
	if want := fmt.Sprintf("exited with status %d", wantCode); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q; expected it to say %q", err, want)
	}
}

// TestProbeControls shows that the probe detects each leak that the
// sandbox must prevent when it is run without the sandbox, so TestRun's
// assertions can fail.
func TestProbeControls(t *testing.T) {
	if probeErr != nil {
		t.Fatalf("probe: %v", probeErr)
	}
	probe := filepath.Join(probeDir, "probe-amd64")
	run := func(t *testing.T, cmd *exec.Cmd) (string, int) {
		t.Helper()
		out, err := cmd.Output()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	t.Run("host file readable", func(t *testing.T) {
		if out, code := run(t, exec.Command(probe, "read", hostSecret(t))); code != 0 || out != "host-secret\n" {
			t.Errorf("probe read: %q, status %d; expected the secret, status 0", out, code)
		}
	})
	t.Run("network reachable", func(t *testing.T) {
		if out, code := run(t, exec.Command(probe, "net", listenLocal(t))); code != 4 {
			t.Errorf("probe net: status %d; expected 4 (connected)\n%s", code, out)
		}
	})
	t.Run("descriptor inherited", func(t *testing.T) {
		cmd := exec.Command(probe, "fds")
		f, err := os.Open("/")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.ExtraFiles = []*os.File{f}
		if out, code := run(t, cmd); code != 0 || !strings.HasPrefix(out, "fd 3\n") {
			t.Errorf("probe fds: %q, status %d; expected it to list fd 3", out, code)
		}
	})
	t.Run("device node", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to make device nodes without namespaces")
		}
		p := filepath.Join(t.TempDir(), "null")
		if out, code := run(t, exec.Command(probe, "mknod", p)); code != 0 {
			t.Errorf("probe mknod as root: %q, status %d; expected status 0", out, code)
		}
	})
	t.Run("chroot escape", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to chroot without namespaces")
		}
		root := newRoot(t, "", "amd64")
		cmd := exec.Command("/bin/probe", "escape", hostSecret(t))
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
		if out, code := run(t, cmd); code != 0 || out != "host-secret\n" {
			t.Errorf("probe escape from a plain chroot: %q, status %d; expected the secret", out, code)
		}
	})
}

func TestStartErrors(t *testing.T) {
	requireSandbox(t)
	dynamic := ""
	for _, p := range []string{"/bin/true", "/usr/bin/true"} {
		if f, err := elf.Open(p); err == nil {
			for _, prog := range f.Progs {
				if prog.Type == elf.PT_INTERP {
					dynamic = p
				}
			}
			f.Close()
		}
		if dynamic != "" {
			break
		}
	}
	cases := []struct {
		name     string
		root     func(t *testing.T) string
		dir      string
		argv     []string
		wantOp   string
		wantIs   error
		wantText []string
	}{
		{name: "missing program", argv: []string{"/bootstrap-seeds/POSIX/x86/kaem-optional-seed"},
			wantOp: "exec", wantIs: fs.ErrNotExist, wantText: []string{"/bootstrap-seeds/POSIX/x86/kaem-optional-seed", "no such file"}},
		{name: "relative program missing in Dir", dir: "/work", argv: []string{"probe"},
			wantOp: "exec", wantIs: fs.ErrNotExist, wantText: []string{"exec probe"}},
		{name: "program not executable", argv: []string{"/bin/data"}, wantOp: "exec", wantIs: fs.ErrPermission,
			root: func(t *testing.T) string {
				root := newRoot(t, "", "amd64")
				copyFile(t, filepath.Join(root, "bin", "probe"), filepath.Join(root, "bin", "data"), 0o644)
				return root
			}},
		{name: "dynamic program", argv: []string{"/bin/true"}, wantOp: "exec", wantIs: fs.ErrNotExist,
			wantText: []string{"/bin/true", "interpreter"},
			root: func(t *testing.T) string {
				if dynamic == "" {
					t.Skip("no dynamically linked true(1) on this host")
				}
				root := newRoot(t, "", "amd64")
				copyFile(t, dynamic, filepath.Join(root, "bin", "true"), 0o755)
				return root
			}},
		{name: "missing dir", dir: "/no/such/dir", argv: []string{"/bin/probe", "pid"},
			wantOp: "dir", wantIs: fs.ErrNotExist, wantText: []string{"/no/such/dir"}},
		{name: "missing root", argv: []string{"/bin/probe"}, wantOp: "root", wantIs: fs.ErrNotExist,
			root: func(t *testing.T) string { return filepath.Join(t.TempDir(), "absent") }},
		{name: "root is a file", argv: []string{"/bin/probe"}, wantOp: "root", wantText: []string{"expected a directory"},
			root: func(t *testing.T) string { return filepath.Join(newRoot(t, "", "amd64"), "bin", "probe") }},
		{name: "empty argv", wantOp: "config", wantText: []string{"empty Argv"}},
		{name: "NUL in argv", argv: []string{"/bin/probe", "a\x00b"}, wantOp: "config", wantText: []string{"NUL"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var root string
			if tc.root != nil {
				root = tc.root(t)
			} else {
				root = newRoot(t, "", "amd64")
			}
			var log bytes.Buffer
			err := sandbox.Run(context.Background(), sandbox.Config{Root: root, Dir: tc.dir, Argv: tc.argv, Stdout: &log, Timeout: time.Minute})
			var se *sandbox.StartError
			if !errors.As(err, &se) {
				t.Fatalf("Run: %v (%T); expected *StartError\nlog: %s", err, err, log.String())
			}
			if se.Op != tc.wantOp {
				t.Errorf("Op %q; expected %q (%v)", se.Op, tc.wantOp, err)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v does not match %v", err, tc.wantIs)
			}
			for _, s := range tc.wantText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q; expected it to contain %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans lines", err)
			}
			if log.Len() != 0 {
				t.Errorf("log %q; expected nothing from a step that did not start", log.String())
			}
		})
	}
}

// startSleeper runs a probe that spawns a child and sleeps, in a
// goroutine, and waits until both processes are up.
func startSleeper(t *testing.T, ctx context.Context, timeout time.Duration) (token string, ready *readyWriter, result <-chan error) {
	t.Helper()
	token = newToken()
	root := newRoot(t, "", "386")
	done := make(chan error, 1)
	ready = newReadyWriter()
	go func() {
		done <- sandbox.Run(ctx, sandbox.Config{Root: root, Argv: []string{"/bin/probe", "spawn", token, "sleep"}, Stdout: ready, Timeout: timeout})
	}()
	return token, ready, done
}

// readyWriter notes when the probe says "ready" on its output (its root
// is a tmpfs the host cannot watch).
type readyWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	ch   chan struct{}
	once sync.Once
}

func newReadyWriter() *readyWriter { return &readyWriter{ch: make(chan struct{})} }

func (w *readyWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(b)
	if strings.Contains(w.buf.String(), "ready\n") {
		w.once.Do(func() { close(w.ch) })
	}
	return len(b), nil
}

func (w *readyWriter) seen() bool {
	select {
	case <-w.ch:
		return true
	default:
		return false
	}
}

// waitReady waits for the probe to say it is ready; the limit only
// bounds a hung test.
func waitReady(t *testing.T, w *readyWriter, result <-chan error) {
	t.Helper()
	select {
	case <-w.ch:
	case err := <-result:
		t.Fatalf("Run returned before the probe was ready: %v", err)
	case <-time.After(time.Minute):
		t.Fatalf("the probe did not say it was ready")
	}
}

func TestTimeout(t *testing.T) {
	requireSandbox(t)
	token, ready, result := startSleeper(t, context.Background(), 2*time.Second)
	err := <-result
	if !errors.Is(err, sandbox.ErrTimeout) {
		t.Fatalf("Run: %v; expected an error matching ErrTimeout", err)
	}
	var ee *sandbox.ExitError
	if errors.As(err, &ee) {
		t.Errorf("Run: %v is also an *ExitError", err)
	}
	if !ready.seen() {
		t.Fatalf("probe had not spawned its child before the timeout, so leftovers are not tested")
	}
	if pids := leftovers(token); len(pids) > 0 {
		t.Errorf("processes left after timeout: %v", pids)
	}
}

func TestCancel(t *testing.T) {
	requireSandbox(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	token, ready, result := startSleeper(t, ctx, 0)
	waitReady(t, ready, result)
	if pids := leftovers(token); len(pids) != 2 {
		t.Fatalf("probe processes running: %v; expected 2 (probe and its child)", pids)
	}
	cancel()
	err := <-result
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v; expected an error matching context.Canceled", err)
	}
	if errors.Is(err, sandbox.ErrTimeout) {
		t.Errorf("Run: %v matches ErrTimeout", err)
	}
	if pids := leftovers(token); len(pids) > 0 {
		t.Errorf("processes left after cancel: %v", pids)
	}
}

func TestCancelledBeforeStart(t *testing.T) {
	requireSandbox(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	root := newRoot(t, "", "amd64")
	err := sandbox.Run(ctx, sandbox.Config{Root: root, Argv: []string{"/bin/probe", "write", "/x", "x"}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v; expected context.Canceled", err)
	}
	if _, err := os.Stat(filepath.Join(root, "x")); err == nil {
		t.Errorf("step ran although the context was cancelled")
	}
}

// pdeathHelper runs in a copy of the test binary: it starts a sleeping
// step and waits to be killed.
func pdeathHelper() {
	err := sandbox.Run(context.Background(), sandbox.Config{
		Root:   os.Getenv(envRoot),
		Argv:   []string{"/bin/probe", "spawn", os.Getenv(envToken), "sleep"},
		Stdout: os.Stdout,
	})
	fmt.Fprintf(os.Stderr, "pdeath helper: Run returned: %v\n", err)
	os.Exit(1)
}

// TestParentKilled kills (SIGKILL) a process that is in Run and checks
// that the step and its child die too.
func TestParentKilled(t *testing.T) {
	requireSandbox(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	token := newToken()
	root := newRoot(t, "", "386")
	helper := exec.Command(exe)
	helper.Env = append(os.Environ(), envHelper+"=pdeath", envRoot+"="+root, envToken+"="+token, envProbes+"="+probeDir)
	var stderr bytes.Buffer
	helper.Stderr = &stderr
	ready := newReadyWriter()
	helper.Stdout = ready
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- helper.Wait() }()
	waitReady(t, ready, exited)
	if pids := leftovers(token); len(pids) != 2 {
		t.Fatalf("probe processes running: %v; expected 2 (probe and its child)", pids)
	}
	helper.Process.Kill()
	<-exited
	// The kernel delivers the parent-death signal asynchronously.
	var pids []int
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if pids = leftovers(token); len(pids) == 0 {
			break
		}
	}
	if len(pids) > 0 {
		t.Fatalf("processes left after their caller was killed: %v\nhelper stderr: %s", pids, stderr.String())
	}
	// SIGKILL ran no cleanup in the helper: a later step's cgroups
	// remove the helper's, once the kernel has let its init go too (the
	// loop is a hang guard, not a timing check).
	left := cgroupsOf(helper.Process.Pid)
	for deadline := time.Now().Add(30 * time.Second); len(left) > 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		sandbox.Enforcement()
		left = cgroupsOf(helper.Process.Pid)
	}
	if len(left) > 0 {
		t.Errorf("cgroups of a killed caller left after the next runs: %v", left)
	}
}

func TestAvailable(t *testing.T) {
	err := sandbox.Available()
	if err == nil {
		return
	}
	var se *sandbox.StartError
	if !errors.As(err, &se) || strings.Contains(err.Error(), "\n") || se.Hint == "" {
		t.Errorf("Available: %q (%T); expected a one-line *StartError with a hint", err, err)
	}
	t.Skipf("namespaces unavailable: %v", err)
}

// TestRootless re-runs this test binary as nobody, so that the
// unprivileged path (user namespace mapping the caller to 0) is tested on
// machines where the tests run as root.
func TestRootless(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("already running unprivileged; the other tests cover it")
	}
	if probeErr != nil {
		t.Fatalf("probe: %v", probeErr)
	}
	const nobody = 65534
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "bootchain-sandbox-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "sandbox.test")
	copyFile(t, exe, bin, 0o755)

	avail := exec.Command(bin, "-test.run=^TestAvailable$", "-test.v")
	asNobody(avail)
	out, err := avail.CombinedOutput()
	if err != nil {
		t.Fatalf("TestAvailable as nobody: %v\n%s", err, out)
	}
	if bytes.Contains(out, []byte("--- SKIP")) {
		t.Skipf("unprivileged user namespaces unavailable here:\n%s", out)
	}

	cmd := exec.Command(bin, "-test.v", "-test.skip=^TestRootless$")
	asNobody(cmd)
	out, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tests as nobody: %v\n%s", err, out)
	}
	for _, name := range []string{"TestRun", "TestStartErrors", "TestTimeout", "TestCancel", "TestParentKilled", "TestAvailable"} {
		if !bytes.Contains(out, []byte("--- PASS: "+name+" (")) {
			t.Errorf("%s did not pass as nobody:\n%s", name, out)
		}
	}
	t.Logf("as nobody: %d subtests passed", bytes.Count(out, []byte("--- PASS: ")))
}

func asNobody(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=/tmp", "TMPDIR=/tmp", envProbes + "=" + probeDir}
	cmd.Dir = "/"
}

// leftCgroups lists the step cgroups of this process still in the
// mounted hierarchies.
func leftCgroups() []string { return cgroupsOf(os.Getpid()) }

// cgroupsOf lists the step cgroups of process pid in the mounted
// hierarchies.
func cgroupsOf(pid int) []string {
	var left []string
	prefix := fmt.Sprintf("bootchain-step-%d-", pid)
	filepath.WalkDir("/sys/fs/cgroup", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.HasPrefix(d.Name(), prefix) {
			left = append(left, p)
			return filepath.SkipDir
		}
		if strings.Count(p, "/") > 6 {
			return filepath.SkipDir
		}
		return nil
	})
	return left
}

// TestLimits: a step that fills its root, forks without end or maps more
// memory than allowed fails, and a full root is named in the error; the
// same steps pass within the defaults.
func TestLimits(t *testing.T) {
	requireSandbox(t)
	run := func(lim sandbox.Limits, argv ...string) (string, error) {
		t.Helper()
		root := newRoot(t, "", "amd64")
		var out bytes.Buffer
		err := sandbox.Run(context.Background(), sandbox.Config{Root: root, Argv: append([]string{"/bin/probe"}, argv...),
			Stdout: &out, Limits: lim, Timeout: time.Minute})
		return out.String(), err
	}
	t.Run("root size", func(t *testing.T) {
		out, err := run(sandbox.Limits{RootSize: 16 << 20}, "fill", "/work/big")
		var le *sandbox.LimitError
		if !errors.As(err, &le) || le.Limit != "root size" || !strings.Contains(err.Error(), "the step reached its root size limit (16 MiB); exited with status 3") {
			t.Fatalf("Run: %v (%T); expected a *LimitError naming the root size\n%s", err, err, out)
		}
		if !strings.Contains(out, "no space left on device") {
			t.Errorf("probe: %q; expected its write to fail for want of space", out)
		}
	})
	t.Run("root too small for its files", func(t *testing.T) {
		_, err := run(sandbox.Limits{RootSize: 1 << 20}, "exit", "0") // the probe is larger
		var se *sandbox.StartError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "the step's root does not fit its size limit (1 MiB)") {
			t.Fatalf("Run: %v; expected a *StartError saying the root does not fit", err)
		}
	})
	t.Run("pids", func(t *testing.T) {
		out, err := run(sandbox.Limits{Pids: 64}, "bomb", "1000")
		var ee *sandbox.ExitError
		if !errors.As(err, &ee) || ee.Code != 3 || !strings.Contains(out, "resource temporarily unavailable") {
			t.Fatalf("Run: %v; expected the fork bomb to stop at its limit with EAGAIN\n%s", err, out)
		}
		var le *sandbox.LimitError
		if errors.As(err, &le) {
			if !strings.Contains(err.Error(), "the step reached its pids limit (64, cgroup v") {
				t.Errorf("Run: %v; expected it to name the pids limit", err)
			}
		} else {
			t.Logf("no pids cgroup here (RLIMIT_NPROC only), so the error cannot name the limit: %v", err)
		}
		if _, err := run(sandbox.Limits{}, "bomb", "20"); err != nil {
			t.Errorf("20 processes within the default limit: %v", err)
		}
	})
	// A step that uses more memory than its limit fails with an error
	// naming the limit and how it is enforced; one within it runs.
	memory := []struct {
		name     string
		cgroup   bool
		limit    int64
		over     string // MiB the probe maps and uses
		under    string
		wantText string
	}{
		// The probe, its init and its root's files all count.
		{name: "cgroup", cgroup: true, limit: 128 << 20, over: "512", under: "32",
			wantText: "the step reached its memory limit (128 MiB, cgroup v"},
		// Go's runtime itself reserves about 1.2 GiB of address space.
		{name: "RLIMIT_AS", limit: 2 << 30, over: "1024", under: "32",
			wantText: "the step reached its memory limit (2048 MiB per process, RLIMIT_AS); exited with status 3; its output reports a failed allocation"},
	}
	for _, tc := range memory {
		t.Run("memory "+tc.name, func(t *testing.T) {
			defer sandbox.UseMemoryCgroups(tc.cgroup)()
			by := sandbox.Enforcement().Memory
			if tc.cgroup && by == "RLIMIT_AS" {
				t.Skipf("no memory cgroup can be made here (no memory controller, or no permission to make a cgroup); RLIMIT_AS stands in")
			}
			if !tc.cgroup && by != "RLIMIT_AS" {
				t.Fatalf("Enforcement().Memory = %q with memory cgroups off; expected RLIMIT_AS", by)
			}
			out, err := run(sandbox.Limits{Memory: tc.limit}, "alloc", tc.over)
			var le *sandbox.LimitError
			if !errors.As(err, &le) || le.Limit != "memory" || !strings.Contains(err.Error(), tc.wantText) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Run: %v (%T); expected one line containing %q\n%s", err, err, tc.wantText, out)
			}
			t.Logf("over the limit: %v", err)
			if tc.cgroup && !strings.Contains(err.Error(), by+")") {
				t.Errorf("Run: %v; expected it to name %s", err, by)
			}
			if out, err := run(sandbox.Limits{Memory: tc.limit}, "alloc", tc.under); err != nil || out != "used "+tc.under+" MiB\n" {
				t.Errorf("%s MiB under a %s limit: %v\n%s", tc.under, sandbox.MiB(tc.limit), err, out)
			}
			if left := leftCgroups(); len(left) > 0 {
				t.Errorf("cgroups left after the runs: %v", left)
			}
		})
	}
	t.Run("written files are plain", func(t *testing.T) {
		root := newRoot(t, "", "amd64")
		if err := sandbox.Run(context.Background(), sandbox.Config{Root: root, Argv: []string{"/bin/probe", "mkfifo", "/work/fifo"}, Timeout: time.Minute}); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(filepath.Join(root, "work/fifo")); err == nil {
			t.Errorf("a FIFO the step made reached the host")
		}
	})
}
