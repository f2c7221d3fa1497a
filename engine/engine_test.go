package engine

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/hex0"
	"github.com/bootchain/bootchain/sandbox"
	"github.com/bootchain/bootchain/store"
	"github.com/bootchain/bootchain/verify"
)

const (
	fixtureDir  = "../testdata/chains/fixture"
	tamperedDir = "../testdata/chains/fixture-tampered"
)

func needSandbox(t *testing.T) {
	t.Helper()
	if err := sandbox.Available(); err != nil {
		t.Skipf("sandbox not available here, so steps cannot run: %v", err)
	}
}

func load(t *testing.T, dir string) *chain.Chain {
	t.Helper()
	c, err := chain.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// env is one test's cache and scratch directories.
type env struct {
	cache, temp string
}

func newEnv(t *testing.T) env {
	return env{cache: t.TempDir(), temp: t.TempDir()}
}

func (e env) opts(c *chain.Chain) Options {
	return Options{Chain: c, CacheDir: e.cache, TempDir: e.temp}
}

// treeHashes returns the hash of every file of a work dir, less the logs.
func treeHashes(t *testing.T, dir string) map[string]string {
	t.Helper()
	m, err := verify.Tree(dir)
	if err != nil {
		t.Fatal(err)
	}
	for p := range m {
		if strings.HasPrefix(p, workMarker+"/") {
			delete(m, p)
		}
	}
	return m
}

func stepStatus(rep *verify.Report) string {
	var s []string
	for _, st := range rep.Steps {
		x := st.Name + "=" + st.Status
		if st.Cached {
			x += "(cached)"
		}
		s = append(s, x)
	}
	return strings.Join(s, " ")
}

// TestDefaultUntil: a chain's default-until ends a run without --until, and
// --until still reaches past it.
func TestDefaultUntil(t *testing.T) {
	needSandbox(t)
	c := load(t, fixtureDir)
	c.DefaultUntil = "kaem"
	e := newEnv(t)
	rep, err := Run(context.Background(), e.opts(c))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stepStatus(rep), "hex0=ok kaem=ok data=not requested hello=not requested again=not requested"; got != want {
		t.Errorf("default run: %s, want %s", got, want)
	}
	if rep.Until != "kaem" || rep.UntilFrom != verify.UntilDefault {
		t.Errorf("default run: until %q from %q, want kaem from %q", rep.Until, rep.UntilFrom, verify.UntilDefault)
	}
	o := e.opts(c)
	o.Until = "hello"
	if rep, err = Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if got, want := stepStatus(rep), "hex0=ok(cached) kaem=ok(cached) data=ok hello=ok again=not requested"; got != want {
		t.Errorf("--until hello: %s, want %s", got, want)
	}
	if rep.Until != "hello" || rep.UntilFrom != verify.UntilFlag {
		t.Errorf("--until hello: until %q from %q, want hello from %q", rep.Until, rep.UntilFrom, verify.UntilFlag)
	}
}

func TestFixture(t *testing.T) {
	needSandbox(t)
	c := load(t, fixtureDir)
	e := newEnv(t)
	work := filepath.Join(t.TempDir(), "work")
	o := e.opts(c)
	o.WorkDir = work
	var events []Event
	o.Progress = progressFunc(func(ev Event) { events = append(events, ev) })
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stepStatus(rep), "hex0=ok kaem=ok data=ok hello=ok again=not requested"; got != want {
		t.Errorf("first run: %s, want %s", got, want)
	}
	if !rep.OK || rep.Chain != "fixture" || rep.Backend != "sandbox" || rep.Digest != c.Digest() || len(rep.Seeds) != 2 {
		t.Errorf("report header: %+v", rep)
	}
	// Every pinned output is in the work dir with its pinned bytes, and the
	// tree holds nothing else but the seeds and the source files.
	got := treeHashes(t, work)
	for p, want := range c.FinalPins("hello") {
		if got[p] != want {
			t.Errorf("%s: sha256 %s, want %s", p, got[p], want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(work, "out/hello.txt")); err != nil || string(b) != "hello from bootchain\n" {
		t.Errorf("out/hello.txt = %q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(work, "bin/hex0")); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("bin/hex0 is not executable: %v %v", fi.Mode(), err)
	}
	if _, err := os.Stat(filepath.Join(work, workMarker, "logs", "03-data.log")); err != nil {
		t.Errorf("step log not kept: %v", err)
	}
	for _, st := range rep.Steps[:4] {
		if len(st.Outputs) == 0 || len(st.Inputs) == 0 || st.Cached {
			t.Errorf("step %s report: %+v", st.Name, st)
		}
		for _, r := range append(st.Outputs, st.Inputs...) {
			if !r.OK || r.SHA256 != r.Expected {
				t.Errorf("step %s: %+v", st.Name, r)
			}
		}
	}
	for _, i := range []int{0, 1, 2} { // the steps marked derive
		for _, r := range rep.Steps[i].Outputs {
			if !r.Derived {
				t.Errorf("step %s: %s not re-derived by the Go twins", rep.Steps[i].Name, r.Path)
			}
		}
	}
	if n := countKinds(events); n[EventStart] != 4 || n[EventEnd] != 4 || n[EventDone] != 1 || n[EventLog] == 0 {
		t.Errorf("events: %v", n)
	}

	// Second run: every step from the store, the same tree.
	rep2, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stepStatus(rep2), "hex0=ok(cached) kaem=ok(cached) data=ok(cached) hello=ok(cached) again=not requested"; got != want {
		t.Errorf("second run: %s, want %s", got, want)
	}
	got2 := treeHashes(t, work)
	if len(got2) != len(got) {
		t.Errorf("second tree has %d files, first %d", len(got2), len(got))
	}
	for p, h := range got {
		if got2[p] != h {
			t.Errorf("second run: %s is %s, first %s", p, got2[p], h)
		}
	}
	// The plan agrees with the run: every step it ran is cached.
	st, err := Plan(c, e.cache)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range st.Steps[:4] {
		if s.Cache != Cached {
			t.Errorf("plan: step %s is %s after a run", c.Steps[i].Name, s.Cache)
		}
	}
	if st.Steps[4].Cache != NotCached {
		t.Errorf("plan: unverified step cached without running")
	}
	// Nothing is left in the scratch directory.
	if ents, _ := os.ReadDir(e.temp); len(ents) != 0 {
		t.Errorf("scratch left behind: %v", ents)
	}
}

type progressFunc func(Event)

func (f progressFunc) Event(e Event) { f(e) }

func countKinds(evs []Event) map[string]int {
	n := map[string]int{}
	for _, e := range evs {
		n[e.Kind]++
	}
	return n
}

func TestTampered(t *testing.T) {
	needSandbox(t)
	c := load(t, tamperedDir)
	e := newEnv(t)
	rep, err := Run(context.Background(), e.opts(c))
	var se *StepError
	if !errors.As(err, &se) {
		t.Fatalf("error %v, want a *StepError", err)
	}
	var me *verify.MismatchError
	if !errors.As(err, &me) || !errors.Is(err, verify.ErrMismatch) {
		t.Fatalf("error %v, want a *verify.MismatchError", err)
	}
	want := c.Steps[c.StepIndex("data")].Outputs["out/b"]
	if se.Step != "data" || me.Step != "data" || me.Path != "out/b" || me.Expected != want || me.Actual == "" || me.Actual == want {
		t.Errorf("mismatch %+v", me)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "step data: out/b: sha256 is "+me.Actual+", expected "+want) {
		t.Errorf("message %q", msg)
	}
	if got, want := stepStatus(rep), "hex0=ok kaem=ok data=failed hello=skipped again=not requested"; got != want {
		t.Errorf("steps: %s, want %s", got, want)
	}
	if rep.OK || rep.Error == "" {
		t.Errorf("report claims success: %+v", rep)
	}
	d := rep.Steps[2]
	if len(d.LogTail) == 0 || !strings.Contains(strings.Join(d.LogTail, "\n"), "hex/b.hex0") || d.WorkDir == "" {
		t.Errorf("failed step report lacks log tail or work dir: %+v", d)
	}
	if strings.Join(se.Command, " ") != "./bin/kaem data.kaem" || se.LogFile == "" {
		t.Errorf("step error: %+v", se)
	}
	if h, err := verify.File(filepath.Join(se.WorkDir, "out/b")); err != nil || h != me.Actual {
		t.Errorf("kept root: out/b %s %v", h, err)
	}
	// The kept root is marked so later runs leave it alone.
	if _, err := os.Stat(filepath.Join(filepath.Dir(se.WorkDir), keptMarker)); err != nil || !strings.HasPrefix(se.WorkDir, e.temp) {
		t.Errorf("failed step's root %s not kept under %s: %v", se.WorkDir, e.temp, err)
	}
	if _, err := Run(context.Background(), Options{Chain: load(t, fixtureDir), CacheDir: e.cache, TempDir: e.temp}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(se.WorkDir); err != nil {
		t.Errorf("a later run removed the kept root: %v", err)
	}
	// The failed step is not stored; the ones before it are.
	keys, _ := PlannedKeys(c)
	s, _ := store.Open(filepath.Join(e.cache, "store"))
	for i, k := range keys[:3] {
		_, found, _ := s.Get(k)
		if found != (i < 2) {
			t.Errorf("step %s stored: %v", c.Steps[i].Name, found)
		}
	}
}

// copyChain copies a chain directory so a test can change it.
func copyChain(t *testing.T, from string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), filepath.Base(from))
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return to
}

func flipByte(t *testing.T, path string, at int) {
	t.Helper()
	os.Chmod(path, 0o644)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 0x01
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFlippedSourceByte(t *testing.T) {
	needSandbox(t)
	dir := copyChain(t, fixtureDir)
	flipByte(t, filepath.Join(dir, "src/hex/a.hex0"), 0)
	c := load(t, dir)
	e := newEnv(t)
	rep, err := Run(context.Background(), e.opts(c))
	var me *verify.MismatchError
	if !errors.As(err, &me) {
		t.Fatalf("error %v, want a mismatch", err)
	}
	src, _ := c.Source("fixture-src")
	if me.Step != "data" || me.Source != "fixture-src" || me.Path != "hex/a.hex0" || me.Expected != src.Files["hex/a.hex0"] || me.Actual == "" {
		t.Errorf("mismatch %+v", me)
	}
	if !strings.HasPrefix(err.Error(), "step data: source fixture-src: hex/a.hex0: sha256 is ") {
		t.Errorf("message %q", err)
	}
	if got, want := stepStatus(rep), "hex0=ok kaem=ok data=failed hello=skipped again=not requested"; got != want {
		t.Errorf("steps: %s, want %s", got, want)
	}
	// The step never ran: there is no root to keep.
	if ents, _ := os.ReadDir(e.temp); len(ents) != 0 {
		t.Errorf("scratch left behind: %v", ents)
	}
}

func TestFlippedCachedByte(t *testing.T) {
	needSandbox(t)
	c := load(t, fixtureDir)
	e := newEnv(t)
	if _, err := Run(context.Background(), e.opts(c)); err != nil {
		t.Fatal(err)
	}
	// Damage the stored copy of a middle step's output.
	pin := c.Steps[c.StepIndex("data")].Outputs["out/hello"]
	blob := filepath.Join(e.cache, "store", "blobs", pin[:2], pin)
	flipByte(t, blob, 100)
	rep, err := Run(context.Background(), e.opts(c))
	var me *verify.MismatchError
	if !errors.As(err, &me) {
		t.Fatalf("error %v, want a mismatch", err)
	}
	if me.Step != "data" || me.Path != "out/hello" || me.Expected != pin || me.Actual == "" || me.Actual == pin {
		t.Errorf("mismatch %+v", me)
	}
	if !strings.HasPrefix(err.Error(), "step data: out/hello: sha256 is "+me.Actual+", expected "+pin) {
		t.Errorf("message %q", err)
	}
	if got, want := stepStatus(rep), "hex0=ok(cached) kaem=ok(cached) data=failed hello=skipped again=not requested"; got != want {
		t.Errorf("steps: %s, want %s", got, want)
	}
	// --no-cache rebuilds it and repairs nothing silently: the run passes.
	o := e.opts(c)
	o.NoCache = true
	rep, err = Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stepStatus(rep), "hex0=ok kaem=ok data=ok hello=ok again=not requested"; got != want {
		t.Errorf("--no-cache: %s, want %s", got, want)
	}
}

func TestUntilAndUnverified(t *testing.T) {
	needSandbox(t)
	c := load(t, fixtureDir)
	e := newEnv(t)
	o := e.opts(c)
	o.Until = "kaem"
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stepStatus(rep), "hex0=ok kaem=ok data=not requested hello=not requested again=not requested"; got != want {
		t.Errorf("--until kaem: %s, want %s", got, want)
	}
	o.Until = "again"
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "add --unverified") {
		t.Errorf("--until an unverified step without --unverified: %v", err)
	}
	o.Until, o.Unverified = "", true
	rep, err = Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stepStatus(rep), "hex0=ok(cached) kaem=ok(cached) data=ok hello=ok again=unverified"; got != want {
		t.Errorf("--unverified: %s, want %s", got, want)
	}
	o.Until = "nope"
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "has no such step") {
		t.Errorf("--until nope: %v", err)
	}
	o.Until, o.Sources = "", map[string]string{"nope": "/x"}
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "has no source nope") {
		t.Errorf("--source nope: %v", err)
	}
}

// meddling runs each step in the sandbox, then lets the test change the
// root as a misbehaving step would.
type meddling struct {
	after func(step chain.Step, root string)
}

func (meddling) Name() string { return "sandbox" }

func (m meddling) RunStep(ctx context.Context, step chain.Step, root string, log io.Writer) error {
	if err := (SandboxBackend{}).RunStep(ctx, step, root, log); err != nil {
		return err
	}
	m.after(step, root)
	return nil
}

func TestUndeclaredAndModifiedInputs(t *testing.T) {
	needSandbox(t)
	c := load(t, fixtureDir)

	// A non-strict step may leave an undeclared file: reported, not kept.
	e := newEnv(t)
	o := e.opts(c)
	o.WorkDir = filepath.Join(t.TempDir(), "w")
	o.Backend = meddling{func(st chain.Step, root string) {
		if st.Name == "hello" {
			os.WriteFile(filepath.Join(root, "out/stray"), []byte("x"), 0o644)
		}
	}}
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if u := rep.Steps[3].Undeclared; len(u) != 1 || u[0] != "out/stray" {
		t.Errorf("undeclared: %v", u)
	}
	if _, err := os.Stat(filepath.Join(o.WorkDir, "out/stray")); err == nil {
		t.Errorf("an undeclared file reached the tree")
	}

	// A strict step may not.
	e = newEnv(t)
	o = e.opts(c)
	o.Backend = meddling{func(st chain.Step, root string) {
		if st.Name == "data" {
			os.WriteFile(filepath.Join(root, "out/stray"), []byte("x"), 0o644)
		}
	}}
	_, err = Run(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "step data: wrote 1 file(s) the chain does not declare (the step is strict): out/stray") {
		t.Errorf("strict step: %v", err)
	}

	// No step may change its inputs.
	e = newEnv(t)
	o = e.opts(c)
	o.Backend = meddling{func(st chain.Step, root string) {
		if st.Name == "hello" {
			os.WriteFile(filepath.Join(root, "bin/kaem"), []byte("x"), 0o755)
		}
	}}
	_, err = Run(context.Background(), o)
	var me *verify.MismatchError
	if !errors.As(err, &me) || me.Step != "hello" || me.Path != "bin/kaem" || !strings.Contains(err.Error(), "changed or removed one of its inputs (step kaem)") {
		t.Errorf("modified input: %v", err)
	}
}

func TestStepFails(t *testing.T) {
	needSandbox(t)
	dir := copyChain(t, fixtureDir)
	// The script names a file that does not exist: kaem stops with an error.
	script := filepath.Join(dir, "src/data.kaem")
	b, _ := os.ReadFile(script)
	b = []byte(strings.Replace(string(b), "./hex/a.hex0", "./hex/missing.hex0", 1))
	os.WriteFile(script, b, 0o644)
	sums, _ := os.ReadFile(filepath.Join(dir, "src.sha256"))
	h, _ := verify.File(script)
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		if strings.HasSuffix(l, "  data.kaem") {
			l = h + "  data.kaem"
		}
		lines = append(lines, l)
	}
	os.WriteFile(filepath.Join(dir, "src.sha256"), []byte(strings.Join(lines, "\n")+"\n"), 0o644)

	c := load(t, dir)
	e := newEnv(t)
	_, err := Run(context.Background(), e.opts(c))
	var se *StepError
	if !errors.As(err, &se) || se.Step != "data" {
		t.Fatalf("error %v, want step data to fail", err)
	}
	if !strings.HasPrefix(err.Error(), "step data: ./bin/kaem failed: ") {
		t.Errorf("message %q", err)
	}
	if !strings.Contains(strings.Join(se.LogTail, "\n"), "missing.hex0") {
		t.Errorf("log tail %q does not show the failing command", se.LogTail)
	}
}

func TestWorkDirRefusesForeignFiles(t *testing.T) {
	c := load(t, fixtureDir)
	e := newEnv(t)
	o := e.opts(c)
	o.WorkDir = t.TempDir()
	os.WriteFile(filepath.Join(o.WorkDir, "precious"), []byte("x"), 0o644)
	_, err := Run(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "expected an empty directory or one an earlier bootchain run left") {
		t.Errorf("foreign work dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(o.WorkDir, "precious")); err != nil {
		t.Errorf("foreign file removed: %v", err)
	}
}

// blocking runs steps in the sandbox but, at step hello, tells the parent
// test it is there and waits to be killed.
type blocking struct{}

func (blocking) Name() string { return "sandbox" }

func (blocking) RunStep(ctx context.Context, step chain.Step, root string, log io.Writer) error {
	err := (SandboxBackend{}).RunStep(ctx, step, root, log)
	if step.Name == "hello" {
		os.Stdout.WriteString("READY\n")
		time.Sleep(time.Minute)
	}
	return err
}

// TestHelperProcess is the run TestKillResume kills; it does nothing
// unless started by that test.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("BOOTCHAIN_ENGINE_HELPER") != "1" {
		t.Skip("helper process for TestKillResume")
	}
	c := load(t, fixtureDir)
	o := Options{Chain: c, CacheDir: os.Getenv("BOOTCHAIN_CACHE"), TempDir: os.Getenv("BOOTCHAIN_TEMP"), Backend: blocking{}}
	Run(context.Background(), o)
	t.Fatal("the helper was not killed")
}

func TestKillResume(t *testing.T) {
	needSandbox(t)
	c := load(t, fixtureDir)
	e := newEnv(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "BOOTCHAIN_ENGINE_HELPER=1", "BOOTCHAIN_CACHE="+e.cache, "BOOTCHAIN_TEMP="+e.temp)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	ready := false
	for sc.Scan() {
		if sc.Text() == "READY" {
			ready = true
			break
		}
	}
	if !ready {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("helper ended before step hello")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, out)
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper did not die of SIGKILL: %v", err)
	}
	// The killed run left its scratch directory behind.
	if ents, _ := os.ReadDir(e.temp); len(ents) == 0 {
		t.Errorf("the killed run left no scratch directory (was it mid-step?)")
	}

	// Resume: the steps stored before the kill come from the store, the
	// killed one runs again, and the tree is the same as a clean run's.
	work := filepath.Join(t.TempDir(), "w")
	o := e.opts(c)
	o.WorkDir = work
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stepStatus(rep), "hex0=ok(cached) kaem=ok(cached) data=ok(cached) hello=ok again=not requested"; got != want {
		t.Errorf("resumed run: %s, want %s", got, want)
	}
	clean := newEnv(t)
	o2 := clean.opts(c)
	o2.WorkDir = filepath.Join(t.TempDir(), "w")
	if _, err := Run(context.Background(), o2); err != nil {
		t.Fatal(err)
	}
	a, b := treeHashes(t, work), treeHashes(t, o2.WorkDir)
	if len(a) != len(b) {
		t.Errorf("resumed tree has %d files, clean %d", len(a), len(b))
	}
	for p, h := range b {
		if a[p] != h {
			t.Errorf("%s: resumed %s, clean %s", p, a[p], h)
		}
	}
	// The killed run's scratch directory was cleaned up, and the store
	// holds no partial file: every blob matches its name.
	if ents, _ := os.ReadDir(e.temp); len(ents) != 0 {
		t.Errorf("scratch left behind: %v", ents)
	}
	filepath.WalkDir(filepath.Join(e.cache, "store"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			t.Errorf("partial file in the store: %s", p)
		}
		if strings.Contains(p, "/blobs/") {
			if h, _ := verify.File(p); h != d.Name() {
				t.Errorf("blob %s holds %s", p, h)
			}
		}
		return nil
	})
}

func TestKey(t *testing.T) {
	base := chain.Step{Name: "a", Describe: "d", Argv: []string{"x", "y"}, Dir: "/", Env: []string{"A=1"},
		Outputs: map[string]string{"o": "1"}, Timeout: time.Minute}
	in := map[string]string{"i": "2"}
	k := Key(base, in)
	same := base
	same.Name, same.Describe, same.Timeout, same.Strict = "b", "other", time.Hour, true
	if Key(same, in) != k {
		t.Errorf("key depends on name, description, timeout or strictness")
	}
	for name, mod := range map[string]func(*chain.Step, map[string]string){
		"argv":       func(s *chain.Step, _ map[string]string) { s.Argv = []string{"x", "z"} },
		"argv split": func(s *chain.Step, _ map[string]string) { s.Argv = []string{"x y"} },
		"dir":        func(s *chain.Step, _ map[string]string) { s.Dir = "/d" },
		"env":        func(s *chain.Step, _ map[string]string) { s.Env = []string{"A=2"} },
		"output pin": func(s *chain.Step, _ map[string]string) { s.Outputs = map[string]string{"o": "3"} },
		"input pin":  func(_ *chain.Step, m map[string]string) { m["i"] = "3" },
		"input path": func(_ *chain.Step, m map[string]string) { delete(m, "i"); m["j"] = "2" },
		"new input":  func(_ *chain.Step, m map[string]string) { m["k"] = "2" },
	} {
		s := base
		m := map[string]string{"i": "2"}
		mod(&s, m)
		if Key(s, m) == k {
			t.Errorf("key does not change with %s", name)
		}
	}
}

func TestPlannedKeysFollowSeedsAndSources(t *testing.T) {
	c := load(t, fixtureDir)
	keys, err := PlannedKeys(c)
	if err != nil {
		t.Fatal(err)
	}
	dir := copyChain(t, fixtureDir)
	flipByte(t, filepath.Join(dir, "src/hex/a.hex0"), 0)
	h, _ := verify.File(filepath.Join(dir, "src/hex/a.hex0"))
	sums, _ := os.ReadFile(filepath.Join(dir, "src.sha256"))
	old := c.Sources[0].Files["hex/a.hex0"]
	os.WriteFile(filepath.Join(dir, "src.sha256"), []byte(strings.Replace(string(sums), old, h, 1)), 0o644)
	c2 := load(t, dir)
	keys2, err := PlannedKeys(c2)
	if err != nil {
		t.Fatal(err)
	}
	// Steps before the source is used keep their keys; the rest change.
	for i := range keys {
		if (keys[i] == keys2[i]) != (i < 2) {
			t.Errorf("step %s: key changed %v", c.Steps[i].Name, keys[i] != keys2[i])
		}
	}
}

// TestDeriveDisagrees: an output that matches its pin but not what the Go
// twins derive stops the run (here the pin and the file were both forged).
func TestDeriveDisagrees(t *testing.T) {
	needSandbox(t)
	dir := copyChain(t, fixtureDir)
	forged := []byte("forged\n")
	sum := sha256.Sum256(forged)
	h := hex.EncodeToString(sum[:])
	sums, _ := os.ReadFile(filepath.Join(dir, "data.sha256"))
	c0 := load(t, fixtureDir)
	old := c0.Steps[c0.StepIndex("data")].Outputs["out/a"]
	os.WriteFile(filepath.Join(dir, "data.sha256"), []byte(strings.Replace(string(sums), old, h, 1)), 0o644)
	c := load(t, dir)
	e := newEnv(t)
	o := e.opts(c)
	o.Backend = meddling{func(st chain.Step, root string) {
		if st.Name == "data" {
			os.WriteFile(filepath.Join(root, "out/a"), forged, 0o644)
		}
	}}
	_, err := Run(context.Background(), o)
	want := "step data: out/a: sha256 is " + h + ", but the Go twins derive " + old + " from `./bin/hex0 ./hex/a.hex0 ./out/a`"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %v\nwant %s", err, want)
	}
}

// TestUnpinnedRoad runs steps of the unverified section that have no pins:
// what each writes is kept for the next (road-bin assembles the file road
// wrote) and reported with its hash as not pinned, and neither step is
// counted as verified.
func TestUnpinnedRoad(t *testing.T) {
	needSandbox(t)
	c := roadChain(t)
	o := newEnv(t).opts(c)
	o.Unverified = true
	var logs bytes.Buffer
	l := logrus.New()
	l.SetOutput(&logs)
	o.Log = l
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stepStatus(rep), "hex0=ok kaem=ok data=ok hello=ok again=unverified road=unverified road-bin=unverified"; got != want {
		t.Errorf("steps: %s, want %s", got, want)
	}
	// The log, too, calls only the verified steps verified.
	if v, u := strings.Count(logs.String(), `msg="step verified"`), strings.Count(logs.String(), `msg="step ran (unverified section)"`); v != 4 || u != 3 {
		t.Errorf("log: %d 'step verified', %d 'step ran (unverified section)'; want 4 and 3:\n%s", v, u, logs.String())
	}
	hello := c.Steps[c.StepIndex("hello")].Outputs["out/hello.txt"]
	// road-bin's file is what hex0 makes of road's: not empty, so road's
	// file was there.
	bin, err := hex0.AssembleLenient(strings.NewReader("hello from bootchain\n"))
	if err != nil || len(bin) == 0 {
		t.Fatalf("hex0 of hello.txt: %x, %v", bin, err)
	}
	binSum := sha256.Sum256(bin)
	for _, tc := range []struct {
		step, path, sha256 string
	}{
		{"road", "seeds/hello.txt", hello},
		{"road-bin", "seeds/hello.bin", hex.EncodeToString(binSum[:])},
	} {
		st := rep.Steps[c.StepIndex(tc.step)]
		if len(st.Outputs) != 1 {
			t.Fatalf("step %s: outputs %+v, want the one file it wrote", tc.step, st.Outputs)
		}
		got := st.Outputs[0]
		if got.Path != tc.path || got.OK || got.Problem != verify.ProblemNotPinned || got.SHA256 != tc.sha256 {
			t.Errorf("step %s: output %+v, want %s reported with its hash as not pinned", tc.step, got, tc.path)
		}
	}
}

// roadChain is the fixture chain with two more unverified steps that have
// no pins: road writes seeds/hello.txt, road-bin assembles it.
func roadChain(t *testing.T, more ...string) *chain.Chain {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fixture")
	if err := os.CopyFS(dir, os.DirFS(fixtureDir)); err != nil {
		t.Fatal(err)
	}
	road := `
step road
    describe an unpinned step: hello writes seeds/hello.txt
    run ../out/hello
    dir /seeds

step road-bin
    describe an unpinned step reads what road wrote
    run seeds/hex0-seed seeds/hello.txt seeds/hello.bin
`
	f, err := os.OpenFile(filepath.Join(dir, "chain"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(road + strings.Join(more, "")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return load(t, dir)
}

// TestPendingStep: a run with --unverified stops before a pending step,
// after running every step before it, and fails saying which step and why;
// --until names a pending step only to be told it cannot run.
func TestPendingStep(t *testing.T) {
	needSandbox(t)
	c := roadChain(t, `
step gcc
    describe laid out, not written
    pending its build commands are not written yet
`)
	o := newEnv(t).opts(c)
	o.Unverified = true
	rep, err := Run(context.Background(), o)
	var pe *PendingError
	if !errors.As(err, &pe) || pe.Step != "gcc" || !strings.Contains(err.Error(), "step gcc: pending, so the run stopped before it: its build commands are not written yet") {
		t.Fatalf("Run: %v, want a PendingError for step gcc", err)
	}
	if got, want := stepStatus(rep), "hex0=ok kaem=ok data=ok hello=ok again=unverified road=unverified road-bin=unverified gcc=pending"; got != want {
		t.Errorf("steps: %s, want %s", got, want)
	}
	if rep.OK {
		t.Errorf("report: ok, want not ok (the run did not reach its end)")
	}
	o.Until = "gcc"
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "--until gcc: the step is pending (its build commands are not written yet)") {
		t.Errorf("--until gcc: %v, want a refusal naming the pending step", err)
	}
	// Without --unverified the run ends at the verified part, as always.
	o.Until, o.Unverified = "", false
	if _, err := Run(context.Background(), o); err != nil {
		t.Errorf("without --unverified: %v", err)
	}
}

// TestScratchBaseTMPDIR: a TMPDIR the person set wins over /dev/shm.
func TestScratchBaseTMPDIR(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	if got := scratchBase(); got != dir {
		t.Errorf("scratchBase() = %s with TMPDIR=%s", got, dir)
	}
}

// TestSourceAt: a source with `at` enters every step root under that
// directory, pinned by the paths inside the source, and the step keys see
// the files where they lie.
func TestSourceAt(t *testing.T) {
	needSandbox(t)
	c := roadChain(t, `
source moved
    version 1
    local src
    files src.sha256
    at moved/here

step moved
    describe reads a source placed with at
    run seeds/hex0-seed moved/here/hex/hello.hex0 seeds/moved.bin
    uses moved
`)
	if src, _ := c.Source("moved"); src.RootPath("hex/hello.hex0") != "moved/here/hex/hello.hex0" {
		t.Fatalf("RootPath: %q", src.RootPath("hex/hello.hex0"))
	}
	o := newEnv(t).opts(c)
	o.Unverified = true
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	st := rep.Steps[c.StepIndex("moved")]
	if st.Status != verify.StatusUnverified || len(st.Outputs) != 1 || st.Outputs[0].Path != "seeds/moved.bin" || st.Outputs[0].SHA256 == "" {
		t.Errorf("step moved: %+v, want seeds/moved.bin written from the source under moved/here", st)
	}
	src, err := os.ReadFile(filepath.Join(fixtureDir, "src", "hex", "hello.hex0"))
	if err != nil {
		t.Fatal(err)
	}
	bin, err := hex0.AssembleLenient(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(bin); st.Outputs[0].SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("seeds/moved.bin: %s, want the hex0 of the source's hello.hex0", st.Outputs[0].SHA256)
	}
}
