package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/verify"
)

// hookRecord is one call of a step hook, reduced to what the tests check.
type hookRecord struct {
	when        string // "before" or "after"
	step        string
	cached      bool
	interpreter string
	interpHash  string
	failed      bool
	rootHash    map[string]string // hashes of files read from v.Root during the call
	view        StepView
}

func (h hookRecord) String() string {
	s := h.when + " " + h.step
	if h.cached {
		s += " cached"
	}
	if h.failed {
		s += " failed"
	}
	return s
}

// recorder records hook calls and stops after the step named stopAfter,
// or before the one named stopBefore.
type recorder struct {
	calls                 []hookRecord
	stopAfter, stopBefore string
	read                  []string // files of the root to hash in each after call
}

func (r *recorder) before(ctx context.Context, v StepView) error {
	r.calls = append(r.calls, hookRecord{when: "before", step: v.Step.Name, cached: v.Cached,
		interpreter: v.Interpreter, interpHash: v.InterpreterSHA256, view: v})
	if v.Step.Name == r.stopBefore {
		return ErrStopBefore
	}
	return nil
}

func (r *recorder) after(ctx context.Context, v StepView) (StepAction, error) {
	rec := hookRecord{when: "after", step: v.Step.Name, cached: v.Cached, failed: v.Err != nil,
		interpreter: v.Interpreter, interpHash: v.InterpreterSHA256, rootHash: map[string]string{}, view: v}
	for _, p := range r.read {
		if h, err := verify.File(hostPath(v.Root, p)); err == nil {
			rec.rootHash[p] = h
		}
	}
	r.calls = append(r.calls, rec)
	if v.Step.Name == r.stopAfter {
		return Stop, nil
	}
	return Continue, nil
}

func (r *recorder) trace() string {
	var s []string
	for _, c := range r.calls {
		s = append(s, c.String())
	}
	return strings.Join(s, ", ")
}

func (r *recorder) call(when, step string) hookRecord {
	for _, c := range r.calls {
		if c.when == when && c.step == step {
			return c
		}
	}
	return hookRecord{}
}

// TestStepHooks: the hooks see every step before and after it, Stop ends
// the run without error with the rest skipped, and a step from the cache
// is shown the same way, labelled cached.
func TestStepHooks(t *testing.T) {
	needSandbox(t)
	c := load(t, fixtureDir)
	e := newEnv(t)

	rec := &recorder{stopAfter: "kaem", read: []string{"bin/hex0", "bin/kaem"}}
	o := e.opts(c)
	o.BeforeStep, o.AfterStep = rec.before, rec.after
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rec.trace(), "before hex0, after hex0, before kaem, after kaem"; got != want {
		t.Errorf("hook calls: %s, want %s", got, want)
	}
	if got, want := stepStatus(rep), "hex0=ok kaem=ok data=skipped hello=skipped again=not requested"; got != want || !rep.OK {
		t.Errorf("report: %s (ok %v), want %s (ok)", got, rep.OK, want)
	}
	b := rec.call("before", "hex0")
	if b.interpreter != "seeds/hex0-seed" || b.interpHash != rep.Seeds["hex0-seed"] || b.interpHash == "" {
		t.Errorf("before hex0: interpreter %s %s, want seeds/hex0-seed %s", b.interpreter, b.interpHash, rep.Seeds["hex0-seed"])
	}
	if n := len(b.view.Inputs); n != 4 || b.view.Inputs[0].Origin != "seed" {
		t.Errorf("before hex0: inputs %+v, want the 4 seed files", b.view.Inputs)
	}
	a := rec.call("after", "kaem")
	if a.view.Done != true || a.view.Index != 2 || a.view.Total != 4 {
		t.Errorf("after kaem: done %v, index %d/%d, want true, 2/4", a.view.Done, a.view.Index, a.view.Total)
	}
	kaemPin := c.Steps[1].Outputs["bin/kaem"]
	if a.rootHash["bin/kaem"] != kaemPin || a.rootHash["bin/hex0"] == "" {
		t.Errorf("after kaem: root holds bin/kaem %q, bin/hex0 %q; want bin/kaem %s and bin/hex0", a.rootHash["bin/kaem"], a.rootHash["bin/hex0"], kaemPin)
	}
	if len(a.view.Report.Outputs) != 1 || !a.view.Report.Outputs[0].OK || a.view.Report.Outputs[0].Expected != kaemPin {
		t.Errorf("after kaem: outputs %+v, want bin/kaem ok", a.view.Report.Outputs)
	}

	// Again with the same cache, to hello: hex0 and kaem come from the store.
	rec = &recorder{read: []string{"out/hello.txt"}}
	o.BeforeStep, o.AfterStep = rec.before, rec.after
	o.Until = "hello"
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	want := "before hex0 cached, after hex0 cached, before kaem cached, after kaem cached, " +
		"before data, after data, before hello, after hello"
	if got := rec.trace(); got != want {
		t.Errorf("hook calls: %s, want %s", got, want)
	}
	data := rec.call("before", "data")
	sources := 0
	for _, in := range data.view.Inputs {
		if in.Origin == "source fixture-src" {
			sources++
		}
	}
	if sources == 0 || data.interpreter != "bin/kaem" || data.interpHash != kaemPin {
		t.Errorf("before data: %d source files, interpreter %s %s; want some, bin/kaem %s", sources, data.interpreter, data.interpHash, kaemPin)
	}
	if tail := rec.call("after", "data").view.LogTail; len(tail) == 0 || !strings.Contains(strings.Join(tail, "\n"), "hello.hex0") {
		t.Errorf("after data: log tail %q, want the kaem script's commands", tail)
	}
	if rec.call("after", "kaem").view.LogTail != nil {
		t.Errorf("after kaem (cached): log tail %q, want none", rec.call("after", "kaem").view.LogTail)
	}
	hello := rec.call("after", "hello")
	if hello.interpreter != "out/hello" || hello.rootHash["out/hello.txt"] != c.Steps[3].Outputs["out/hello.txt"] {
		t.Errorf("after hello: interpreter %s, out/hello.txt %s; want out/hello, %s", hello.interpreter, hello.rootHash["out/hello.txt"], c.Steps[3].Outputs["out/hello.txt"])
	}
}

// TestStepHookFailedStep: AfterStep sees a failed step with its error and
// the root it left, and the run ends whatever it returns.
func TestStepHookFailedStep(t *testing.T) {
	needSandbox(t)
	c := load(t, tamperedDir)
	rec := &recorder{read: []string{"out/b"}}
	o := newEnv(t).opts(c)
	o.BeforeStep, o.AfterStep = rec.before, rec.after
	rep, err := Run(context.Background(), o)
	var se *StepError
	if !errors.As(err, &se) || se.Step != "data" {
		t.Fatalf("err %v, want a StepError at step data", err)
	}
	if got, want := rec.trace(), "before hex0, after hex0, before kaem, after kaem, before data, after data failed"; got != want {
		t.Errorf("hook calls: %s, want %s", got, want)
	}
	a := rec.call("after", "data")
	var bad verify.Result
	for _, o := range a.view.Report.Outputs {
		if o.Path == "out/b" {
			bad = o
		}
	}
	if bad.OK || bad.SHA256 == "" || a.rootHash["out/b"] != bad.SHA256 {
		t.Errorf("after data: out/b %+v, root holds %q; want the mismatching file", bad, a.rootHash["out/b"])
	}
	if rep.OK || stepStatus(rep) != "hex0=ok kaem=ok data=failed hello=skipped again=not requested" {
		t.Errorf("report: %s", stepStatus(rep))
	}
}

// TestStepHookError: an error from a hook ends the run with it.
func TestStepHookError(t *testing.T) {
	needSandbox(t)
	o := newEnv(t).opts(load(t, fixtureDir))
	boom := errors.New("boom")
	o.AfterStep = func(ctx context.Context, v StepView) (StepAction, error) { return Continue, boom }
	if _, err := Run(context.Background(), o); !errors.Is(err, boom) {
		t.Errorf("err %v, want boom", err)
	}
}

// TestQEMUStepHooks: under qemu the guest waits for AfterStep between
// steps; Stop ends the run cleanly after the first step.
func TestQEMUStepHooks(t *testing.T) {
	needQEMU(t)
	c := load(t, fixtureDir)
	e := newEnv(t)
	rec := &recorder{stopAfter: "hex0", read: []string{"bin/hex0"}}
	o := e.qemuOpts(c)
	o.BeforeStep, o.AfterStep = rec.before, rec.after
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rec.trace(), "before hex0, after hex0"; got != want {
		t.Errorf("hook calls: %s, want %s", got, want)
	}
	if got, want := stepStatus(rep), "hex0=ok kaem=skipped data=skipped hello=skipped again=not requested"; got != want || !rep.OK {
		t.Errorf("report: %s (ok %v), want %s (ok)", got, rep.OK, want)
	}
	a := rec.call("after", "hex0")
	if want := c.Steps[0].Outputs["bin/hex0"]; a.rootHash["bin/hex0"] != want {
		t.Errorf("after hex0: root holds bin/hex0 %q, want %s", a.rootHash["bin/hex0"], want)
	}
	if len(a.view.LogTail) == 0 {
		t.Errorf("after hex0: no log tail")
	}
}

// TestStopBefore: ErrStopBefore from BeforeStep ends the run before the
// step, without error, on both backends; the step is not run.
func TestStopBefore(t *testing.T) {
	c := load(t, fixtureDir)
	for _, backend := range []string{"sandbox", "qemu"} {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t)
			o := e.opts(c)
			if backend == "qemu" {
				needQEMU(t)
				o = e.qemuOpts(c)
			} else {
				needSandbox(t)
			}
			rec := &recorder{stopBefore: "kaem"}
			o.BeforeStep, o.AfterStep = rec.before, rec.after
			rep, err := Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := rec.trace(), "before hex0, after hex0, before kaem"; got != want {
				t.Errorf("hook calls: %s, want %s", got, want)
			}
			if got, want := stepStatus(rep), "hex0=ok kaem=skipped data=skipped hello=skipped again=not requested"; got != want || !rep.OK {
				t.Errorf("report: %s (ok %v), want %s (ok)", got, rep.OK, want)
			}
		})
	}
}

func TestInterpreter(t *testing.T) {
	for _, tc := range []struct {
		argv0, dir, want string
	}{
		{"seeds/hex0-seed", "", "seeds/hex0-seed"},
		{"./bin/kaem", "/", "bin/kaem"},
		{"./hello", "/out", "out/hello"},
		{"../out/hello", "/bin", "out/hello"},
		{"/x86/bin/M2", "/x86", "x86/bin/M2"},
		{"../../../etc/x", "/a", "etc/x"},
	} {
		st := chain.Step{Argv: []string{tc.argv0}, Dir: tc.dir}
		if got := interpreter(st); got != tc.want {
			t.Errorf("interpreter(%q in %q) = %q, want %q", tc.argv0, tc.dir, got, tc.want)
		}
	}
}
