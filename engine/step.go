package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/verify"
)

// StepAction is what an AfterStep hook tells the run to do next.
type StepAction int

const (
	// Continue runs the next step.
	Continue StepAction = iota
	// Stop ends the run after this step, without error: the report holds
	// the steps run so far and marks the rest skipped.
	Stop
)

// StepInput is one file of the tree a step starts from.
type StepInput struct {
	Path   string // slash-separated, relative to the root
	SHA256 string
	Origin string // "seed", "source NAME" or "step NAME"
}

// StepView is a step as an auditor sees it, before it runs (Done false)
// and after it ended (Done true). The engine passes it to
// Options.BeforeStep and Options.AfterStep.
type StepView struct {
	Step  chain.Step
	Index int // 1-based
	Total int // the number of steps this run runs
	Done  bool
	// Cached says the step's outputs come from the store: it does not run.
	Cached bool
	// Interpreter is Step.Argv[0] as a path in the root (resolved against
	// Step.Dir), and InterpreterSHA256 its hash, empty when the root does
	// not hold it.
	Interpreter       string
	InterpreterSHA256 string
	// Inputs is the tree the step starts from, sorted by path.
	Inputs []StepInput
	// Report is the step's part of the run's report (after the step):
	// status, outputs with expected and actual hashes, derived flags.
	Report verify.StepReport
	// Err is why the step failed (after a failed step), else nil.
	Err error
	// LogTail is the end of the step's log (after the step; none for a
	// cached step), LogFile the whole log.
	LogTail []string
	LogFile string
	// Root is the host directory holding the step's tree: its inputs and,
	// after it, its outputs. It is valid only during the hook's call and
	// must not be changed.
	Root string
}

// ErrStopBefore, returned by a BeforeStep hook, ends the run before the
// step, without error: the report holds the steps run so far and marks the
// rest skipped, as after an AfterStep hook's Stop.
var ErrStopBefore = errors.New("stopped before the step by the BeforeStep hook")

// errStopped ends a qemu run whose AfterStep hook said Stop.
var errStopped = errors.New("stopped by the AfterStep hook")

// stepInputs lists inputs (path -> sha256) with their origins.
func (r *run) stepInputs(inputs map[string]string) []StepInput {
	in := make([]StepInput, 0, len(inputs))
	for _, p := range chain.SortedPaths(inputs) {
		in = append(in, StepInput{Path: p, SHA256: inputs[p], Origin: r.state[p].origin})
	}
	return in
}

// interpreter returns argv[0] of st as a path in the root.
func interpreter(st chain.Step) string {
	if len(st.Argv) == 0 {
		return ""
	}
	dir := st.Dir
	if dir == "" {
		dir = "/"
	}
	p := st.Argv[0]
	if !path.IsAbs(p) {
		p = path.Join("/", dir, p)
	}
	return strings.TrimPrefix(path.Clean(p), "/")
}

func (r *run) view(i int, inputs map[string]string, root string) StepView {
	st := r.c.Steps[i]
	v := StepView{Step: st, Index: i + 1, Total: r.last + 1, Interpreter: interpreter(st), Root: root}
	v.InterpreterSHA256 = inputs[v.Interpreter]
	v.Inputs = r.stepInputs(inputs)
	return v
}

// beforeStep calls the BeforeStep hook, if any.
func (r *run) beforeStep(ctx context.Context, i int, inputs map[string]string, cached bool, root string) error {
	if r.hookInputs == nil {
		r.hookInputs = map[int]map[string]string{}
	}
	r.hookInputs[i] = inputs
	if r.opts.BeforeStep == nil {
		return nil
	}
	v := r.view(i, inputs, root)
	v.Cached = cached
	return r.opts.BeforeStep(ctx, v)
}

// afterStep calls the AfterStep hook, if any, for step i, which ended
// (failed, when se is not nil). It says whether the run is to stop.
func (r *run) afterStep(ctx context.Context, i int, se *StepError, logs string) (bool, error) {
	if r.opts.AfterStep == nil {
		return false, nil
	}
	rep := r.report.Steps[i]
	inputs := r.hookInputs[i]
	if inputs == nil { // the step failed before it could start
		inputs = map[string]string{}
	}
	root := r.tree
	if se != nil && se.WorkDir != "" {
		root = se.WorkDir
	}
	v := r.view(i, inputs, root)
	v.Done, v.Cached, v.Report = true, rep.Cached, rep
	if se != nil {
		v.Err = se
	}
	if !rep.Cached {
		v.LogFile = filepath.Join(logs, fmt.Sprintf("%02d-%s.log", i+1, v.Step.Name))
		if se != nil && se.LogTail != nil {
			v.LogTail = se.LogTail
		} else {
			v.LogTail = readTail(v.LogFile, logTailLines)
		}
	}
	act, err := r.opts.AfterStep(ctx, v)
	if err != nil {
		return true, err
	}
	if act == Stop {
		r.stopped = true
	}
	return act == Stop, nil
}

// readTail returns the last n lines of the file at p (none if it cannot
// be read).
func readTail(p string, n int) []string {
	f, err := verify.OpenRegular(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, strings.TrimRight(sc.Text(), "\r"))
		if len(lines) > 2*n {
			lines = append([]string(nil), lines[len(lines)-n:]...)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}
