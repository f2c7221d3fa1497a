package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/hex0"
	"github.com/bootchain/bootchain/initramfs"
	"github.com/bootchain/bootchain/qemu"
	"github.com/bootchain/bootchain/verify"
)

// needQEMU skips a test that boots a guest when QEMU or a kernel is missing.
func needQEMU(t testing.TB) {
	t.Helper()
	if _, err := qemu.FindQEMU(""); err != nil {
		t.Skipf("cannot boot a guest: %v", err)
	}
	if _, err := qemu.FindKernel(""); err != nil {
		t.Skipf("cannot boot a guest: %v", err)
	}
}

// qemuOpts runs c in the qemu backend under TCG (KVM is broken on the
// hosts these tests run on, and its probe costs seconds), with the
// unpacked kernel kept in the test's cache.
func (e env) qemuOpts(c *chain.Chain, extra ...qemu.Option) Options {
	o := e.opts(c)
	o.Backend = &qemu.Backend{Accel: qemu.AccelTCG, IdleTimeout: time.Minute, Options: extra}
	return o
}

// outputHashes lists every step's status and output hashes, the part of a
// report both backends must agree on.
func outputHashes(rep *verify.Report) []string {
	var s []string
	for _, st := range rep.Steps {
		s = append(s, st.Name+" "+st.Status)
		for _, o := range st.Outputs {
			s = append(s, "  "+o.Path+" "+o.SHA256+" "+o.Expected)
		}
	}
	return s
}

// TestQEMUMatchesSandbox runs the fixture chain, unverified step included,
// in the sandbox and in one QEMU guest: every output hash must be the same.
func TestQEMUMatchesSandbox(t *testing.T) {
	needSandbox(t)
	needQEMU(t)
	c := load(t, fixtureDir)
	e := newEnv(t)
	so := e.opts(c)
	so.Unverified = true
	want, err := Run(context.Background(), so)
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}

	qe := newEnv(t)
	qo := qe.qemuOpts(c)
	qo.Unverified = true
	qo.WorkDir = filepath.Join(t.TempDir(), "w")
	var events []Event
	qo.Progress = progressFunc(func(ev Event) { events = append(events, ev) })
	got, err := Run(context.Background(), qo)
	if err != nil {
		t.Fatalf("qemu: %v", err)
	}
	if got.Backend != "qemu" || !got.OK {
		t.Errorf("report: backend %q ok %v, want qemu true", got.Backend, got.OK)
	}
	if g, w := outputHashes(got), outputHashes(want); !reflect.DeepEqual(g, w) {
		t.Errorf("qemu outputs differ from the sandbox's:\nqemu:\n%s\nsandbox:\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
	}
	for i, st := range got.Steps {
		if st.Cached {
			t.Errorf("step %s: cached under qemu; a guest run builds everything", st.Name)
		}
		for j, o := range st.Outputs {
			if o.Derived != want.Steps[i].Outputs[j].Derived {
				t.Errorf("step %s: %s: derived %v under qemu, %v in the sandbox", st.Name, o.Path, o.Derived, want.Steps[i].Outputs[j].Derived)
			}
		}
	}
	// The same progress as the sandbox: a start and an end per step.
	kinds := countKinds(events)
	if kinds[EventStart] != 5 || kinds[EventEnd] != 5 || kinds[EventDone] != 1 {
		t.Errorf("events: %v, want 5 start, 5 end, 1 done", kinds)
	}
	// The tree holds the received files, executables executable, and the
	// logs hold each step's console output.
	hello := filepath.Join(qo.WorkDir, "out", "hello")
	if fi, err := os.Stat(hello); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("out/hello in the tree: %v, %v; want mode 0755", fi, err)
	}
	if b, err := os.ReadFile(filepath.Join(qo.WorkDir, "out", "hello.txt")); err != nil || string(b) != "hello from bootchain\n" {
		t.Errorf("out/hello.txt: %q, %v", b, err)
	}
	log, err := os.ReadFile(filepath.Join(qo.WorkDir, workMarker, "logs", "03-data.log"))
	if err != nil || !strings.Contains(string(log), "+> ./bin/hex0 ./hex/b.hex0 ./out/b") || strings.Contains(string(log), "/bootchain/catm") {
		t.Errorf("03-data.log: want the step's commands without the protocol's, got %q (%v)", log, err)
	}
	// Nothing went into the store: the guest sends no modes.
	if ents, _ := os.ReadDir(filepath.Join(qe.cache, "store", "steps")); len(ents) != 0 {
		t.Errorf("the qemu run stored %d entries, want none", len(ents))
	}
}

// TestQEMUTampered: the tampered fixture fails at step data, with the
// sandbox's message, the bad file kept in the work dir.
func TestQEMUTampered(t *testing.T) {
	needQEMU(t)
	c := load(t, tamperedDir)
	e := newEnv(t)
	o := e.qemuOpts(c)
	o.WorkDir = filepath.Join(t.TempDir(), "w")
	rep, err := Run(context.Background(), o)
	var se *StepError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want a *StepError", err)
	}
	const want = "step data: out/b: sha256 is 39bf87566f53343b870427138f09266ead77a082bac480fd1c3552287ff0276e, expected b3bf41e0c0d829af209679a12e430a7634b5f3736cc297654c060382b810631c; the step did not produce the pinned bytes"
	if err.Error() != want {
		t.Errorf("err:\n got %s\nwant %s", err, want)
	}
	if !errors.Is(err, verify.ErrMismatch) {
		t.Errorf("err does not match verify.ErrMismatch")
	}
	if se.WorkDir != o.WorkDir || len(se.LogTail) == 0 {
		t.Errorf("StepError: work dir %q, %d log lines; want %q and the log", se.WorkDir, len(se.LogTail), o.WorkDir)
	}
	if got := stepStatus(rep); got != "hex0=ok kaem=ok data=failed hello=skipped again=not requested" {
		t.Errorf("statuses: %s", got)
	}
	if h, err := verify.File(filepath.Join(o.WorkDir, "out", "b")); err != nil || !strings.HasPrefix(h, "39bf8756") {
		t.Errorf("kept out/b: %s, %v", h, err)
	}
}

// TestQEMUGuestFailures: the guest's ends that are not a step's output
// become one-line errors in the right place.
func TestQEMUGuestFailures(t *testing.T) {
	needQEMU(t)
	c := load(t, fixtureDir)
	e := newEnv(t)
	t.Run("panic", func(t *testing.T) {
		// No init: the kernel falls back to a root file system it has not got.
		_, err := Run(context.Background(), e.qemuOpts(c, qemu.WithAppend("rdinit=/nonexistent")))
		var pe *qemu.PanicError
		var se *StepError
		if !errors.As(err, &pe) || errors.As(err, &se) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("err = %v, want a one-line kernel panic outside any step", err)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		o := e.qemuOpts(c)
		o.Progress = progressFunc(func(ev Event) {
			if ev.Kind == EventStart && ev.Step == "kaem" {
				cancel()
			}
		})
		rep, err := Run(ctx, o)
		if !errors.Is(err, context.Canceled) || err.Error() != "step kaem: context canceled" {
			t.Fatalf("err = %v, want step kaem: context canceled", err)
		}
		if got := stepStatus(rep); got != "hex0=ok kaem=failed data=skipped hello=skipped again=not requested" {
			t.Errorf("statuses: %s", got)
		}
	})
	t.Run("missing", func(t *testing.T) {
		o := e.qemuOpts(c)
		o.Backend.(*qemu.Backend).QEMU = "/nonexistent/qemu"
		if _, err := Run(context.Background(), o); !errors.Is(err, qemu.ErrNoQEMU) {
			t.Errorf("no qemu: err = %v, want ErrNoQEMU", err)
		}
		o = e.qemuOpts(c)
		o.Backend.(*qemu.Backend).Kernel = "/nonexistent/vmlinuz"
		if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "/nonexistent/vmlinuz") {
			t.Errorf("no kernel: err = %v, want one naming the kernel", err)
		}
	})
}

// TestQEMUGuest checks the guest QEMUGuest builds: the same archive every
// time, enter only when a step needs it, every output's directory there.
func TestQEMUGuest(t *testing.T) {
	c := load(t, fixtureDir)
	e := newEnv(t)
	archive := func(until string) ([]byte, qemu.Guest) {
		t.Helper()
		o := e.opts(c)
		o.Until = until
		g, err := QEMUGuest(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		ents, err := g.Entries()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := initramfs.Write(&b, ents, initramfs.Options{}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes(), g
	}
	a1, g := archive("")
	a2, _ := archive("")
	if !bytes.Equal(a1, a2) {
		t.Errorf("two guests of the same chain differ")
	}
	var names []string
	for _, s := range g.Steps {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, " "); got != enterStep+" hex0 kaem data hello" {
		t.Errorf("guest steps: %s", got)
	}
	if got := strings.Join(g.Steps[4].Argv, " "); got != "/bootchain/enter /out GREETING=unused -- ./hello" {
		t.Errorf("step hello runs %q", got)
	}
	if got := g.KernelArgs(); got != "console=ttyS0 rdinit=/seeds/kaem-optional-seed panic=-1 no_timer_check quiet" {
		t.Errorf("kernel args: %s", got)
	}
	have := map[string]bool{}
	for _, f := range g.Files {
		have[f.EntryPath()] = true
	}
	for _, p := range []string{"seeds/hex0-seed", "seeds/kaem-minimal.hex0", "hex/b.hex0", "data.kaem", "bin", "bootchain/enter.hex0"} {
		if !have[p] {
			t.Errorf("guest root lacks %s", p)
		}
	}
	// Up to data nothing needs enter.
	_, g = archive("data")
	for _, f := range g.Files {
		if strings.HasPrefix(f.EntryPath(), "bootchain/") {
			t.Errorf("guest up to data holds %s", f.EntryPath())
		}
	}
	if len(g.Steps) != 3 {
		t.Errorf("guest up to data: %d steps, want 3", len(g.Steps))
	}
}

func TestGuestArgv(t *testing.T) {
	for _, tc := range []struct {
		dir  string
		env  []string
		argv []string
		want string // or the error's text
	}{
		{"/", nil, []string{"./bin/kaem", "x.kaem"}, "./bin/kaem x.kaem"},
		{"", nil, []string{"a"}, "a"},
		{"/out", nil, []string{"./hello"}, "/bootchain/enter /out -- ./hello"},
		{"/", []string{"A=1", "B="}, []string{"p", "q"}, "/bootchain/enter / A=1 B= -- p q"},
		{"/", nil, []string{"p", "two words"}, `step s: argument "two words" contains ' ', which the qemu guest`},
		{"/", []string{"A=x#y"}, []string{"p"}, `step s: env "A=x#y" contains '#'`},
	} {
		got, err := guestArgv(chain.Step{Name: "s", Dir: tc.dir, Env: tc.env, Argv: tc.argv})
		s := strings.Join(got, " ")
		if err != nil {
			s = err.Error()
		}
		if !strings.HasPrefix(s, tc.want) {
			t.Errorf("dir %q env %q argv %q: got %q, want %q", tc.dir, tc.env, tc.argv, s, tc.want)
		}
	}
}

// TestEnter runs both enters, the i386 and the x86-64 one, assembled by
// the Go hex0 assembler, on the host (the i386 one needs an x86 Linux
// kernel with 32-bit support): the same behaviour, case by case.
func TestEnter(t *testing.T) {
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "386") {
		t.Skip("enter is an x86 Linux program")
	}
	for _, tc := range []struct {
		arch string
		size int // what its program header says
	}{{"x86", 162}, {"amd64", 205}} {
		t.Run(tc.arch, func(t *testing.T) {
			if tc.arch == "amd64" && runtime.GOARCH != "amd64" {
				t.Skip("an x86-64 program")
			}
			testEnter(t, enterSourceFor(tc.arch), tc.size)
		})
	}
}

func testEnter(t *testing.T, src []byte, size int) {
	b, err := hex0.Assemble(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != size {
		t.Errorf("enter is %d bytes, its header says %d", len(b), size)
	}
	dir := t.TempDir()
	enter := filepath.Join(dir, "enter")
	if err := os.WriteFile(enter, b, 0o755); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	env, err := exec.LookPath("env")
	if err != nil {
		t.Skip("no env program to run through enter")
	}
	pwd, err := exec.LookPath("pwd")
	if err != nil {
		t.Skip("no pwd program to run through enter")
	}
	if out, err := exec.Command(enter, sub, "A=1", "B=two", "--", env).CombinedOutput(); err != nil {
		if errors.Is(err, exec.ErrNotFound) || strings.Contains(err.Error(), "exec format error") {
			t.Skipf("cannot run this program here: %v", err)
		}
		t.Fatalf("enter ... env: %v\n%s", err, out)
	} else if string(out) != "A=1\nB=two\n" {
		t.Errorf("environment through enter: %q, want exactly A=1 and B=two", out)
	}
	if out, err := exec.Command(enter, sub, "--", pwd).Output(); err != nil || strings.TrimSpace(string(out)) != sub {
		t.Errorf("pwd through enter: %q, %v; want %s", out, err, sub)
	}
	// A relative program is found from the new directory.
	if out, err := exec.Command(enter, sub, "--", "../enter", "/", "--", pwd).Output(); err != nil || string(out) != "/\n" {
		t.Errorf("../enter from sub: %q, %v", out, err)
	}
	for _, args := range [][]string{
		{},                                      // no DIR
		{filepath.Join(dir, "nope"), "--", env}, // DIR missing
		{sub, "A=1", env},                       // no --
		{sub, "--"},                             // no PROG
		{sub, "--", filepath.Join(dir, "nope")}, // PROG missing
	} {
		err := exec.Command(enter, args...).Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("enter %q: %v, want exit status 1", args, err)
		}
	}
}

// TestQEMUX86Upstream runs the real x86 chain in one QEMU guest (about
// five minutes under TCG) and checks every output against its pin, which
// the sandbox run and upstream's x86.answers share.
//
//	BOOTCHAIN_STAGE0_POSIX=/path/to/stage0-posix-1.9.1 go test ./engine -run QEMUX86 -timeout 30m -v
func TestQEMUX86Upstream(t *testing.T) {
	tree := os.Getenv("BOOTCHAIN_STAGE0_POSIX")
	if tree == "" {
		t.Skip("set BOOTCHAIN_STAGE0_POSIX to an unpacked stage0-posix 1.9.1 tree to run the x86 chain under QEMU")
	}
	needQEMU(t)
	c := load(t, "x86")
	e := newEnv(t)
	o := e.qemuOpts(c)
	o.Sources = map[string]string{"stage0-posix": tree}
	o.Until = "full" // stage0 only: the Mes steps need the mes and nyacc sources
	o.Backend.(*qemu.Backend).IdleTimeout = 10 * time.Minute
	start := time.Now()
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, st := range rep.Steps {
		if c.StepIndex(st.Name) > c.StepIndex("full") {
			continue
		}
		if st.Status != verify.StatusOK {
			t.Errorf("step %s: %s", st.Name, st.Status)
		}
		for _, out := range st.Outputs {
			if !out.OK || out.SHA256 != c.Steps[c.StepIndex(st.Name)].Outputs[out.Path] {
				t.Errorf("step %s: %s: %s, pinned %s", st.Name, out.Path, out.SHA256, out.Expected)
			}
			n++
		}
	}
	t.Logf("x86 chain under qemu: %d outputs verified in %v", n, time.Since(start).Round(time.Second))
}

// BenchmarkFixtureQEMU runs the fixture chain in the sandbox and in one
// QEMU guest (TCG), and reports both wall times and the time from Run's
// start to the guest's first step (verifying the sources, writing the
// initramfs, booting the kernel, assembling catm). The unpacked kernel is
// cached across iterations, as it is for a user; the sandbox runs with
// --no-cache.
//
//	go test ./engine -run '^$' -bench FixtureQEMU -benchtime 3x
func BenchmarkFixtureQEMU(b *testing.B) {
	needQEMU(b)
	c, err := chain.Load(fixtureDir)
	if err != nil {
		b.Fatal(err)
	}
	cache := b.TempDir()
	var sandboxTime, qemuTime, first time.Duration
	sandboxOK := true
	for b.Loop() {
		if sandboxOK {
			o := Options{Chain: c, CacheDir: cache, TempDir: b.TempDir(), NoCache: true}
			t0 := time.Now()
			if _, err := Run(context.Background(), o); err != nil {
				sandboxOK = false
				b.Logf("sandbox: %v (not compared)", err)
			}
			sandboxTime += time.Since(t0)
		}
		o := Options{Chain: c, CacheDir: cache, TempDir: b.TempDir(), Backend: &qemu.Backend{Accel: qemu.AccelTCG}}
		t0 := time.Now()
		var firstAt time.Duration
		o.Progress = progressFunc(func(ev Event) {
			if ev.Kind == EventStart && firstAt == 0 {
				firstAt = time.Since(t0)
			}
		})
		if _, err := Run(context.Background(), o); err != nil {
			b.Fatal(err)
		}
		qemuTime += time.Since(t0)
		first += firstAt
	}
	n := float64(b.N)
	b.ReportMetric(qemuTime.Seconds()/n, "qemu-s/run")
	b.ReportMetric(first.Seconds()/n, "first-step-s")
	if sandboxOK {
		b.ReportMetric(sandboxTime.Seconds()/n, "sandbox-s/run")
	}
	b.ReportMetric(0, "ns/op")
}

// TestQEMUUnpinnedRoad runs unpinned unverified steps in the guest: they
// run in order (road-bin needs what road wrote, in the guest's root), are
// reported unverified, and nothing of theirs is reported as checked.
func TestQEMUUnpinnedRoad(t *testing.T) {
	needQEMU(t)
	c := roadChain(t)
	o := newEnv(t).qemuOpts(c)
	o.Unverified = true
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stepStatus(rep), "hex0=ok kaem=ok data=ok hello=ok again=unverified road=unverified road-bin=unverified"; got != want {
		t.Errorf("steps: %s, want %s", got, want)
	}
	for _, name := range []string{"road", "road-bin"} {
		for _, out := range rep.Steps[c.StepIndex(name)].Outputs {
			if out.OK {
				t.Errorf("step %s: %s reported as checked; an unpinned step checks nothing", name, out.Path)
			}
		}
	}
}

// TestGuestConsoleOrder feeds a guestRun the console and the data port in
// the worst order the two readers allow: the step's first console lines
// before its begin frame, its last after its end frame. The step's log
// still holds every line of the step, and nothing of the protocol.
func TestGuestConsoleOrder(t *testing.T) {
	c := load(t, fixtureDir)
	c.Steps[0].Derive = false // no tree to re-derive from here
	r := &run{c: c, opts: Options{}, log: logrus.New(), report: &verify.Report{Steps: make([]verify.StepReport, len(c.Steps))}}
	r.log.(*logrus.Logger).SetOutput(io.Discard)
	logs := t.TempDir()
	g := &guestRun{ctx: context.Background(), r: r, p: &guestPlan{steps: []int{0}, inputs: []map[string]string{{}}}, logs: logs, cur: -1, console: io.Discard}
	echo := func(kind string) string {
		return " +> /" + qemu.GuestDir + "/catm /dev/ttyS1 /" + qemu.GuestDir + "/frame/" + kind + "\n"
	}
	io.WriteString(g, echo("hello"))
	io.WriteString(g, echo("begin-1"))
	io.WriteString(g, " +> seeds/hex0-seed seeds/hex0.hex0 bin/hex0\nfirst line of the step\n")
	if err := g.event(qemu.Event{Kind: qemu.EventBegin, Step: 0}); err != nil {
		t.Fatal(err)
	}
	io.WriteString(g, "a line while the log is open\n")
	if err := g.event(qemu.Event{Kind: qemu.EventEnd, Step: 0}); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond) // the step's end is waiting for these
		io.WriteString(g, "last line of the step\n"+echo("end-1"))
	}()
	if err := g.event(qemu.Event{Kind: qemu.EventStepDone, Step: 0, Result: &qemu.StepResult{}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(logs, "01-hex0.log"))
	if err != nil {
		t.Fatal(err)
	}
	want := " +> seeds/hex0-seed seeds/hex0.hex0 bin/hex0\nfirst line of the step\na line while the log is open\nlast line of the step\n"
	if string(b) != want {
		t.Errorf("step log:\n%s\nwant:\n%s", b, want)
	}
}
