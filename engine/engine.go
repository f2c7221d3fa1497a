// Package engine runs a chain step by step and proves every file on the
// way. For each step it computes the cache key (the step's definition and
// the hash of every file of the root it starts from); on a hit it places
// the step's outputs from the store, re-hashing each; otherwise it builds a
// fresh root (the seeds, the pinned source files used so far and the
// outputs of the earlier steps), runs the step there through a Backend,
// hashes every declared output against its pin, re-hashes the inputs,
// lists the files nobody declared, and stores the verified outputs. The
// first mismatch stops the run with a report naming the step, the file,
// both hashes, the command, the end of its log and the kept root.
package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/source"
	"github.com/bootchain/bootchain/store"
	"github.com/bootchain/bootchain/termsafe"
	"github.com/bootchain/bootchain/verify"
)

// Backend runs one step in a root the engine has populated. The files the
// step writes must be left in root. log receives the step's standard output
// and standard error.
type Backend interface {
	Name() string
	RunStep(ctx context.Context, step chain.Step, root string, log io.Writer) error
}

// Options configures Run.
type Options struct {
	Chain   *chain.Chain
	Backend Backend // nil means the sandbox backend
	// Sources maps a source name to a path given with --source NAME=PATH:
	// an archive or an unpacked tree. Other sources come from the cache.
	Sources map[string]string
	// Until names the last step to run; empty runs every step (up to the
	// unverified section unless Unverified is set).
	Until string
	// From names the step to start at; empty starts from the seeds. The
	// steps before it do not run: their verified outputs are placed from
	// the store, re-hashed (from.go).
	From string
	// WorkDir, when set, receives the final cumulative tree in upstream's
	// layout (or, after a failure, the failed step's root), plus the step
	// logs under .bootchain/logs. It must be empty, absent, or a tree an
	// earlier run left there.
	WorkDir string
	// CacheDir holds sources and the step store; empty means source.CacheDir().
	CacheDir string
	// TempDir is where step roots are built; empty means $TMPDIR when it
	// is set, else /dev/shm when it is a writable tmpfs, else the system's
	// temporary directory.
	TempDir string
	// NoCache runs every step even when the store holds its outputs (the
	// fresh outputs are still stored).
	NoCache bool
	// Unverified lets the run continue into the chain's unverified section.
	Unverified bool
	// SeedDir, when set, is a directory holding another party's seeds (a
	// file per seed of the chain, named as the seed, e.g. hex0-seed and
	// kaem-optional-seed) to run the chain with instead of bootchain's.
	SeedDir string
	// Progress receives events; nil means none.
	Progress Progress
	// BeforeStep, when set, is called before each step runs (or its
	// outputs are placed from the store) with what it starts from;
	// ErrStopBefore ends the run there without error, another error ends
	// the run with it.
	BeforeStep func(ctx context.Context, v StepView) error
	// AfterStep, when set, is called after each step, passed or failed
	// (step.go). Stop ends the run there without error; after a failed
	// step the run ends whatever it returns; an error ends the run. The
	// next step does not start until it returns: under qemu the guest
	// waits for the host (qemu.Guest.Pause).
	AfterStep func(ctx context.Context, v StepView) (StepAction, error)
	// Log receives log messages; nil discards them.
	Log logrus.FieldLogger
}

// logTailLines is how much of a failed step's log the report keeps.
const logTailLines = 40

// StepError is the error of a run that stopped at a step. Err says what
// went wrong, starting with "step NAME:"; the other fields are for the
// person who has to find out why.
type StepError struct {
	Step    string
	Err     error
	Command []string
	LogTail []string
	LogFile string // the step's full log
	WorkDir string // the root the step left, kept for inspection
	// KeptInMemory says WorkDir is kept on a tmpfs (/dev/shm), which
	// holds it in memory until it is removed, and KeptBytes its size.
	KeptInMemory bool
	KeptBytes    int64
}

func (e *StepError) Error() string { return e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// WriteDetails writes what a person needs after a failed step: the
// command, the end of its log and where its root was kept.
func (e *StepError) WriteDetails(w io.Writer) {
	fmt.Fprintf(w, "  step:     %s\n", termsafe.Escape(e.Step))
	if len(e.Command) > 0 {
		fmt.Fprintf(w, "  command:  %s\n", termsafe.Escape(strings.Join(e.Command, " ")))
	}
	if e.WorkDir != "" && e.KeptInMemory {
		fmt.Fprintf(w, "  root:     %s (kept: %s on a tmpfs, in memory; remove it when done)\n", termsafe.Escape(e.WorkDir), megabytes(e.KeptBytes))
	} else if e.WorkDir != "" {
		fmt.Fprintf(w, "  root:     %s (kept)\n", termsafe.Escape(e.WorkDir))
	}
	if e.LogFile != "" {
		fmt.Fprintf(w, "  log:      %s\n", termsafe.Escape(e.LogFile))
	}
	if len(e.LogTail) > 0 {
		fmt.Fprintf(w, "  last %d lines of the log:\n", len(e.LogTail))
		for _, l := range e.LogTail {
			fmt.Fprintf(w, "    | %s\n", termsafe.Escape(l))
		}
	}
}

// fileState is one file of the cumulative tree.
type fileState struct {
	sha256 string
	origin string // "seed", "source NAME" or "step NAME"
}

type run struct {
	opts    Options
	c       *chain.Chain
	log     logrus.FieldLogger
	backend Backend
	store   *store.Store
	cache   string
	scratch *scratch
	tree    string // the cumulative root, inside scratch
	state   map[string]fileState
	opened  map[string]bool
	report  *verify.Report
	last    int // index of the last step to run
	from    int // index of the first step to run (Options.From)
	// pending is the index of the pending step the run stops before (a
	// step of the unverified section without commands yet), or -1.
	pending int
	// hookInputs holds the tree each step started from, for AfterStep.
	hookInputs map[int]map[string]string
	stopped    bool // the AfterStep hook said Stop
	// until is the name of the last step to run and untilFrom what chose
	// it (verify.Until*), for the report.
	until, untilFrom string
	work             *workDir
}

// Run runs opts.Chain and returns its report, which is complete as far as
// the run went even when the error is not nil. A step that fails or does
// not match its pins ends the run with a *StepError.
func Run(ctx context.Context, opts Options) (*verify.Report, error) {
	c := opts.Chain
	if c == nil {
		return nil, errors.New("engine: no chain")
	}
	r := &run{opts: opts, c: c, log: opts.Log, backend: opts.Backend, state: map[string]fileState{}, opened: map[string]bool{}}
	if r.log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		r.log = l
	}
	if r.backend == nil {
		r.backend = SandboxBackend{}
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	if opts.WorkDir != "" {
		w, err := openWorkDir(opts.WorkDir)
		if err != nil {
			return nil, err
		}
		defer w.close()
		r.work = w
	}
	r.report = &verify.Report{Chain: c.Name, Backend: r.backend.Name(), Bootchain: verify.CurrentTool(),
		Until: r.until, UntilFrom: r.untilFrom, Seeds: map[string]string{}, Digest: c.Digest(),
		Sources: []verify.SourceReport{}, Steps: []verify.StepReport{},
		Times: verify.Times{Started: now()}}
	r.report.Limits = reportLimits(r.backend)
	for i, s := range c.Steps {
		status := verify.StatusSkipped
		if i > r.last {
			status = verify.StatusNotRequested
		}
		r.report.Steps = append(r.report.Steps, verify.StepReport{
			Name: s.Name, Status: status, Command: s.Argv,
			Inputs: []verify.Result{}, Outputs: []verify.Result{},
		})
	}
	err := r.run(ctx)
	if err == nil && r.pending >= 0 && !r.stopped {
		st := c.Steps[r.pending]
		r.report.Steps[r.pending].Status = verify.StatusPending
		err = &PendingError{Step: st.Name, Why: st.Pending}
	}
	r.report.OK = err == nil
	if err != nil {
		r.report.Error = err.Error()
	}
	r.report.Times.Ended = now()
	if r.progress() != nil {
		ev := Event{Kind: EventDone, Status: verify.StatusOK, Until: r.until}
		for i := r.last + 1; i < len(c.Steps); i++ {
			if r.report.Steps[i].Status == verify.StatusNotRequested {
				ev.NotRequested = append(ev.NotRequested, c.Steps[i].Name)
			}
		}
		if err != nil {
			ev.Status, ev.Error = verify.StatusFailed, err.Error()
		}
		r.progress().Event(ev)
	}
	return r.report, err
}

// now is the wall-clock time as reports label it.
func now() string { return time.Now().UTC().Format(time.RFC3339) }

func (r *run) progress() Progress { return r.opts.Progress }

func (r *run) emit(e Event) {
	if p := r.progress(); p != nil {
		p.Event(e)
	}
}

// check validates the options against the chain before anything runs,
// and works out the last step to run (r.last, r.until, r.untilFrom).
func (r *run) check() error {
	r.last, r.pending = len(r.c.Steps)-1, -1
	r.untilFrom = verify.UntilFlag
	if r.opts.Until == "" {
		r.opts.Until, r.untilFrom = fromUntil(r.c, r.opts.From), verify.UntilDefault
	}
	if r.opts.Until == "" {
		r.untilFrom = verify.UntilChainEnd
	}
	if r.opts.Until != "" {
		i := r.c.StepIndex(r.opts.Until)
		if i < 0 {
			var names []string
			for _, s := range r.c.Steps {
				names = append(names, s.Name)
			}
			return fmt.Errorf("--until %s: chain %s has no such step (it has %s)", r.opts.Until, r.c.Name, strings.Join(names, ", "))
		}
		if r.c.Steps[i].Unverified && !r.opts.Unverified {
			return fmt.Errorf("--until %s: the step is in the unverified section; add --unverified to run it", r.opts.Until)
		}
		if why := r.c.Steps[i].Pending; why != "" {
			return fmt.Errorf("--until %s: the step is pending (%s): the chain lays it out, with its sources pinned, but has no commands for it yet", r.opts.Until, why)
		}
		r.last = i
	}
	if !r.opts.Unverified {
		for i := 0; i <= r.last; i++ {
			if r.c.Steps[i].Unverified {
				r.last, r.untilFrom = i-1, verify.UntilVerifiedEnd
				break
			}
		}
	}
	for i := 0; i <= r.last; i++ {
		if r.c.Steps[i].Pending != "" {
			r.pending, r.last, r.untilFrom = i, i-1, verify.UntilBeforePending
			break
		}
	}
	if r.untilFrom != verify.UntilChainEnd && r.last >= 0 {
		r.until = r.c.Steps[r.last].Name
	}
	if err := r.checkFrom(); err != nil {
		return err
	}
	for name := range r.opts.Sources {
		if _, ok := r.c.Source(name); !ok {
			var names []string
			for _, s := range r.c.Sources {
				names = append(names, s.Name)
			}
			return fmt.Errorf("--source %s=...: chain %s has no source %s (it has %s)", name, r.c.Name, name, strings.Join(names, ", "))
		}
	}
	if r.opts.WorkDir != "" {
		if err := checkWorkDir(r.opts.WorkDir); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) run(ctx context.Context) error {
	c := r.c
	seeds, err := r.seedFiles()
	if err != nil {
		return err
	}
	r.cache = r.opts.CacheDir
	if r.cache == "" {
		if r.cache, err = source.CacheDir(); err != nil {
			return err
		}
	}
	if r.store, err = store.Open(filepath.Join(r.cache, "store")); err != nil {
		return err
	}
	base := r.opts.TempDir
	if base == "" {
		base = scratchBase()
	}
	if r.scratch, err = newScratch(base); err != nil {
		return fmt.Errorf("step roots: %w", err)
	}
	keepScratch := false
	defer func() {
		if keepScratch {
			r.scratch.keep()
		} else {
			r.scratch.remove()
		}
	}()
	r.tree = filepath.Join(r.scratch.dir, "tree")
	logs := filepath.Join(r.scratch.dir, "logs")
	for _, d := range []string{r.tree, logs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	for _, s := range seeds {
		if err := writeBytes(r.tree, s.path, s.bytes, fs.FileMode(s.mode)); err != nil {
			return fmt.Errorf("seed %s: %w", s.name, err)
		}
		r.state[s.path] = fileState{s.sha256, "seed"}
	}
	r.log.WithFields(logrus.Fields{"chain": c.Name, "backend": r.backend.Name(), "scratch": r.scratch.dir, "steps": r.last + 1}).Info("run started")

	if err := r.placeFrom(ctx); err != nil {
		return err
	}
	var failed *StepError
	// A boot backend runs every step in one boot (boot.go, qemu.go).
	gb, inGuest := r.backend.(BootBackend)
	if inGuest {
		if failed, err = r.runGuest(ctx, gb, logs); err != nil {
			return err
		}
		if failed == nil && !r.stopped && r.last >= 0 {
			// The guest has finished: the last step's hook runs now.
			if _, err := r.afterStep(ctx, r.last, nil, logs); err != nil {
				return err
			}
		}
	}
	for i := r.from; i <= r.last && !inGuest; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.step(ctx, i, logs); err != nil {
			if errors.Is(err, ErrStopBefore) {
				r.stopped = true
				break
			}
			var se *StepError
			if !errors.As(err, &se) {
				return err
			}
			failed = se
			break
		}
		if stop, err := r.afterStep(ctx, i, nil, logs); err != nil {
			return err
		} else if stop {
			break
		}
	}
	if failed != nil && r.opts.AfterStep != nil {
		if i := r.c.StepIndex(failed.Step); i >= 0 {
			if _, err := r.afterStep(ctx, i, failed, logs); err != nil {
				return err
			}
		}
	}
	if r.last < len(c.Steps)-1 && failed == nil {
		next := c.Steps[r.last+1]
		if next.Unverified && !r.opts.Unverified && r.opts.Until == "" {
			r.log.WithField("step", next.Name).Info("stopped before the unverified section; add --unverified to go on")
		}
	}

	if r.work != nil {
		if err := r.leave(failed, logs); err != nil {
			if failed == nil {
				return err
			}
			r.log.WithError(err).Warn("the failed step's root stays in the scratch directory")
			keepScratch = failed.WorkDir != ""
		}
	} else if failed != nil && failed.WorkDir != "" {
		keepScratch = true // the failed step's root, for the user to inspect
		if _, err := MakePlain(failed.WorkDir); err != nil {
			r.log.WithError(err).Warn("kept root")
		}
		failed.KeptInMemory, failed.KeptBytes = onTmpfs(failed.WorkDir), treeBytes(failed.WorkDir)
	}
	if failed != nil {
		if !keepScratch && strings.HasPrefix(failed.LogFile, r.scratch.dir+string(filepath.Separator)) {
			failed.LogFile = "" // removed with the scratch directory
		}
		return failed
	}
	return nil
}

// fixReport points the failed step's report at where its root now is.
func (r *run) fixReport(se *StepError) {
	for i := range r.report.Steps {
		if r.report.Steps[i].Name == se.Step && r.report.Steps[i].WorkDir != "" {
			r.report.Steps[i].WorkDir = se.WorkDir
		}
	}
}

// leave puts what the run made into the work dir: the new tree after
// a run that went well; after a failed step its root, into the work dir
// when that holds no verified tree, else beside that tree (in
// .bootchain/failed/), which stays as it was.
func (r *run) leave(failed *StepError, logs string) error {
	if failed == nil {
		return r.work.place(r.tree, logs, "")
	}
	from := r.tree
	if failed.WorkDir != "" {
		from = failed.WorkDir
	}
	logName := filepath.Base(failed.LogFile)
	if r.work.verified() {
		if failed.WorkDir == "" {
			return nil // nothing to inspect, and the tree is worth keeping
		}
		root, logDir, err := r.work.keepFailed(from, logs)
		if err != nil {
			return err
		}
		failed.WorkDir = root
		if failed.LogFile != "" {
			failed.LogFile = filepath.Join(logDir, logName)
		}
	} else {
		if err := r.work.place(from, logs, failed.Step); err != nil {
			return err
		}
		if failed.WorkDir != "" {
			failed.WorkDir = r.opts.WorkDir
		}
		if failed.LogFile != "" {
			failed.LogFile = filepath.Join(r.opts.WorkDir, workMarker, "logs", logName)
		}
	}
	r.fixReport(failed)
	return nil
}

// openSources verifies the sources step i uses for the first time and
// places their pinned files in the tree, hashing each again as it is
// copied.
func (r *run) openSources(ctx context.Context, st chain.Step) error {
	for _, u := range st.Uses {
		if r.opened[u] {
			continue
		}
		src, _ := r.c.Source(u)
		t, err := source.Open(ctx, *src, r.opts.Sources[u], r.cache)
		if err != nil {
			var me *verify.MismatchError
			if errors.As(err, &me) && me.Step == "" {
				me.Step = st.Name
				return me
			}
			// A plain fetch gets what a plain run needs: a source first
			// used later needs --until (and --unverified) to be fetched.
			var missing *source.MissingError
			if errors.As(err, &missing) && missing.Until == "" {
				if d := r.c.StepIndex(r.c.DefaultUntil); st.Unverified || (d >= 0 && r.c.StepIndex(st.Name) > d) {
					missing.Until, missing.Unverified = st.Name, st.Unverified
				}
			}
			if missing != nil {
				// Not wrapped: the caller may still set its Chain, and
				// fmt.Errorf would fix the message now.
				missing.Step = st.Name
				return missing
			}
			return fmt.Errorf("step %s: %w", st.Name, err)
		}
		for _, p := range chain.SortedPaths(src.Files) {
			rp := src.RootPath(p)
			got, err := copyHashed(t.Path(p), r.tree, rp)
			if err != nil {
				return fmt.Errorf("step %s: source %s: %s: %w", st.Name, u, p, err)
			}
			if got != src.Files[p] {
				return &verify.MismatchError{Step: st.Name, Source: u, Path: p, Expected: src.Files[p], Actual: got,
					Meaning: "the file changed after the source was checked"}
			}
			r.state[rp] = fileState{got, "source " + u}
		}
		r.opened[u] = true
		r.report.Sources = append(r.report.Sources, sourceReport(*src, r.opts.Sources[u], t.Form))
		r.log.WithFields(logrus.Fields{"step": st.Name, "source": u, "files": len(src.Files), "from": t.Root}).Info("source verified")
	}
	return nil
}

func (r *run) inputs() map[string]string {
	m := make(map[string]string, len(r.state))
	for p, f := range r.state {
		m[p] = f.sha256
	}
	return m
}

func (r *run) step(ctx context.Context, i int, logs string) error {
	st := r.c.Steps[i]
	rep := &r.report.Steps[i]
	ev := Event{Step: st.Name, Index: i + 1, Total: r.last + 1}
	start := time.Now()
	logFile := filepath.Join(logs, fmt.Sprintf("%02d-%s.log", i+1, st.Name))
	e := ev
	e.Kind, e.Log = EventStart, logFile
	r.emit(e)
	fail := func(err error, workDir string, tail []string) error {
		rep.Status = verify.StatusFailed
		rep.Seconds = time.Since(start).Seconds()
		rep.LogTail, rep.WorkDir = tail, workDir
		e := ev
		e.Kind, e.Status, e.Seconds, e.Error = EventEnd, rep.Status, rep.Seconds, err.Error()
		if ctx.Err() != nil {
			e.Status = StatusInterrupted // the step did not fail: it was stopped
		}
		r.emit(e)
		if ctx.Err() != nil {
			// Interrupted, not failed: nothing to keep for inspection.
			return fmt.Errorf("step %s: %w", st.Name, ctx.Err())
		}
		se := &StepError{Step: st.Name, Err: err, Command: st.Argv, LogTail: tail, WorkDir: workDir}
		if _, statErr := os.Stat(logFile); statErr == nil {
			se.LogFile = logFile
		}
		return se
	}

	if err := r.openSources(ctx, st); err != nil {
		return fail(err, "", nil)
	}
	inputs := r.inputs()
	key := Key(st, inputs)
	log := r.log.WithFields(logrus.Fields{"step": st.Name, "key": key[:16]})

	if !r.opts.NoCache {
		entry, found, err := r.store.Get(key)
		if err != nil {
			return fail(fmt.Errorf("step %s: %w", st.Name, err), "", nil)
		}
		if found {
			if err := r.beforeStep(ctx, i, inputs, true, r.tree); err != nil {
				return err
			}
			if err := r.fromStore(ctx, st, entry); err != nil {
				return fail(err, "", nil)
			}
			rep.Status, rep.Cached = verify.StatusOK, true
			if st.Unverified {
				rep.Status = verify.StatusUnverified
			}
			rep.Inputs = pinResults(inputs, inputs, st.Outputs)
			rep.Outputs = pinResults(entry.Files, st.Outputs, nil)
			if err := r.deriveOutputs(st, r.tree, rep); err != nil {
				return fail(err, "", nil)
			}
			rep.Seconds = time.Since(start).Seconds()
			log.Info("step outputs placed from the store")
			e := ev
			e.Kind, e.Status, e.Cached, e.Seconds = EventEnd, rep.Status, true, rep.Seconds
			r.emit(e)
			return nil
		}
	}

	if err := r.beforeStep(ctx, i, inputs, false, r.tree); err != nil {
		return err
	}
	// Build a fresh root: the tree as it stands, the step's files only.
	root := filepath.Join(r.scratch.dir, fmt.Sprintf("step-%02d-%s", i+1, st.Name))
	os.RemoveAll(root)
	if err := cloneTree(r.tree, root, chain.SortedPaths(inputs)); err != nil {
		return fail(fmt.Errorf("step %s: building its root: %w", st.Name, err), "", nil)
	}
	// The stage0 tools cannot make directories: the directory of every
	// declared output exists when the step starts.
	for p := range st.Outputs {
		if err := os.MkdirAll(filepath.Dir(hostPath(root, p)), 0o755); err != nil {
			return fail(fmt.Errorf("step %s: building its root: %w", st.Name, err), "", nil)
		}
	}
	lf, err := os.Create(logFile)
	if err != nil {
		return fail(fmt.Errorf("step %s: log: %w", st.Name, err), "", nil)
	}
	lw := newLogWriter(lf, func(line string) {
		e := ev
		e.Kind, e.Line = EventLog, line
		r.emit(e)
	})
	if err := r.scratch.roomFor(root); err != nil {
		lf.Close()
		return fail(fmt.Errorf("step %s: %w", st.Name, err), "", nil)
	}
	log.WithField("root", root).Info("step running")
	runErr := r.backend.RunStep(ctx, st, root, lw)
	lw.flush()
	lf.Close()
	tail := lw.tail()
	if runErr != nil {
		if ctx.Err() != nil {
			return fail(fmt.Errorf("step %s: %w", st.Name, ctx.Err()), root, tail)
		}
		if err := r.scratch.full(root, runErr); err != nil {
			return fail(fmt.Errorf("step %s: %s failed: %w", st.Name, st.Argv[0], err), root, tail)
		}
		return fail(fmt.Errorf("step %s: %s failed: %w", st.Name, st.Argv[0], runErr), root, tail)
	}

	// Hash everything the step left and hold it against the pins.
	found, err := verify.Tree(root)
	if err != nil {
		return fail(fmt.Errorf("step %s: hashing its root: %w", st.Name, err), root, tail)
	}
	rep.Outputs = pinResults(found, st.Outputs, nil)
	rep.Inputs = pinResults(found, inputs, st.Outputs)
	rep.Undeclared = []string{}
	unpinned := map[string]string{} // what a step without pins wrote: all kept
	for _, p := range chain.SortedPaths(found) {
		if _, in := inputs[p]; in {
			continue
		}
		if _, out := st.Outputs[p]; out {
			continue
		}
		if !st.Pinned() {
			unpinned[p] = found[p]
			rep.Outputs = append(rep.Outputs, verify.Result{Path: p, SHA256: found[p], Problem: verify.ProblemNotPinned})
			continue
		}
		rep.Undeclared = append(rep.Undeclared, p)
	}
	for _, u := range rep.Undeclared {
		log.WithField("file", u).Warn("step wrote a file the chain does not declare")
	}
	if err := verify.FirstFailure(st.Name, rep.Outputs); err != nil {
		if !st.Unverified {
			return fail(err, root, tail)
		}
		log.WithError(err).Warn("unverified step did not match its pins")
	}
	for _, in := range rep.Inputs {
		if !in.OK {
			me := in.Err(st.Name).(*verify.MismatchError)
			me.Meaning = "the step changed or removed one of its inputs (" + r.state[in.Path].origin + ")"
			return fail(me, root, tail)
		}
	}
	if st.Strict && len(rep.Undeclared) > 0 {
		return fail(fmt.Errorf("step %s: wrote %d file(s) the chain does not declare (the step is strict): %s", st.Name, len(rep.Undeclared), strings.Join(rep.Undeclared, ", ")), root, tail)
	}

	if err := r.deriveOutputs(st, root, rep); err != nil {
		return fail(err, root, tail)
	}

	outputs := unpinned
	for p := range st.Outputs {
		if h, ok := found[p]; ok { // only an unverified step gets here with one missing
			outputs[p] = h
		}
	}
	if !st.Unverified {
		if err := r.store.Put(key, root, outputs); err != nil {
			return fail(fmt.Errorf("step %s: storing its outputs: %w", st.Name, err), root, tail)
		}
	}
	// The step's root, less what nobody declared, is the new tree.
	keep := r.inputs()
	for p, h := range outputs {
		keep[p] = h
		r.state[p] = fileState{h, "step " + st.Name}
	}
	if err := prune(root, keep); err != nil {
		return fail(fmt.Errorf("step %s: %w", st.Name, err), root, tail)
	}
	if err := os.RemoveAll(r.tree); err != nil {
		return fail(fmt.Errorf("step %s: %w", st.Name, err), root, tail)
	}
	if err := os.Rename(root, r.tree); err != nil {
		return fail(fmt.Errorf("step %s: %w", st.Name, err), root, tail)
	}
	rep.Status = verify.StatusOK
	msg := "step verified"
	if st.Unverified {
		rep.Status, msg = verify.StatusUnverified, "step ran (unverified section)"
	}
	rep.Seconds = time.Since(start).Seconds()
	log.WithField("seconds", fmt.Sprintf("%.2f", rep.Seconds)).Info(msg)
	e = ev
	e.Kind, e.Status, e.Seconds = EventEnd, rep.Status, rep.Seconds
	r.emit(e)
	return nil
}

// fromStore places a cached step's outputs into the tree, re-hashing each
// blob. The entry must promise exactly the step's pins.
func (r *run) fromStore(ctx context.Context, st chain.Step, e store.Entry) error {
	for _, p := range chain.SortedPaths(st.Outputs) {
		if e.Files[p] != st.Outputs[p] {
			return &verify.MismatchError{Step: st.Name, Path: p, Expected: st.Outputs[p], Actual: e.Files[p],
				Meaning: "the store's entry for this step disagrees with the chain; run again with --no-cache"}
		}
	}
	if len(e.Files) != len(st.Outputs) {
		return fmt.Errorf("step %s: the store's entry holds %d files, expected %d; run again with --no-cache", st.Name, len(e.Files), len(st.Outputs))
	}
	if err := r.store.MaterializeContext(ctx, e, r.tree); err != nil {
		var me *verify.MismatchError
		if errors.As(err, &me) {
			me.Step = st.Name
			if me.Meaning == "" {
				me.Meaning = "the cached copy is damaged; run again with --no-cache to rebuild it"
			}
			return me
		}
		return fmt.Errorf("step %s: %w", st.Name, err)
	}
	for p, h := range e.Files {
		r.state[p] = fileState{h, "step " + st.Name}
	}
	return nil
}

// pinResults checks the pinned files against what was found, sorted by
// path, leaving out the paths in skip.
func pinResults(found, pins, skip map[string]string) []verify.Result {
	rs := []verify.Result{}
	for _, p := range chain.SortedPaths(pins) {
		if _, s := skip[p]; s {
			continue
		}
		got, ok := found[p]
		res := verify.Result{Path: p, SHA256: got, Expected: pins[p], OK: ok && got == pins[p]}
		if !ok {
			res.Problem = "missing"
		}
		rs = append(rs, res)
	}
	return rs
}

// logWriter copies a step's output to its log file, keeps the last lines
// for the report and passes each line to a callback (live progress).
type logWriter struct {
	mu      sync.Mutex
	w       io.Writer
	partial []byte
	lines   []string
	onLine  func(string)
}

func newLogWriter(w io.Writer, onLine func(string)) *logWriter {
	return &logWriter{w: w, onLine: onLine}
}

func (l *logWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.w.Write(b)
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.line(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	if len(l.partial) > 64*1024 { // a runaway line: take it as it is
		l.line(string(l.partial))
		l.partial = nil
	}
	return n, err
}

func (l *logWriter) line(s string) {
	s = strings.TrimRight(s, "\r")
	l.lines = append(l.lines, s)
	if len(l.lines) > 2*logTailLines {
		l.lines = append([]string(nil), l.lines[len(l.lines)-logTailLines:]...)
	}
	if l.onLine != nil {
		l.onLine(s)
	}
}

func (l *logWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.line(string(l.partial))
		l.partial = nil
	}
}

func (l *logWriter) tail() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.lines
	if len(t) > logTailLines {
		t = t[len(t)-logTailLines:]
	}
	return append([]string(nil), t...)
}

// PendingError ends a run that reached a pending step: one the chain lays
// out, with its sources pinned, but has no commands for yet. Every step
// before it ran as the report says.
type PendingError struct {
	Step, Why string
}

func (e *PendingError) Error() string {
	return fmt.Sprintf("step %s: pending, so the run stopped before it: %s", e.Step, e.Why)
}

// sourceReport says how src entered the run: supplied is the path given
// with --source, if any, and cachedForm what the cache says its files came
// from. Only an archive given with --source is read again here, to name
// its digest; a cached archive's is its pin, checked when it was fetched
// or imported.
func sourceReport(src chain.Source, supplied, cachedForm string) verify.SourceReport {
	h := sha256.New()
	for _, p := range chain.SortedPaths(src.Files) {
		fmt.Fprintf(h, "%s  %s\n", src.Files[p], p)
	}
	sr := verify.SourceReport{Name: src.Name, Version: src.Version, Files: len(src.Files),
		FilesSHA256: hex.EncodeToString(h.Sum(nil))}
	switch {
	case supplied != "":
		sr.From, sr.Form = "--source", verify.FormArchive
		if fi, err := os.Stat(supplied); err == nil && fi.IsDir() {
			sr.Form = verify.FormTree
		} else if sum, err := verify.File(supplied); err == nil {
			sr.ArchiveSHA256 = sum
		}
	case src.Local != nil:
		sr.From, sr.Form = "chain", verify.FormTree
	case cachedForm == verify.FormArchive:
		sr.From, sr.Form, sr.ArchiveSHA256 = "cache", verify.FormArchive, src.ArchiveSHA256
	case cachedForm == verify.FormTree:
		sr.From, sr.Form = "cache", verify.FormTree
	default:
		sr.From, sr.Form = "cache", verify.FormUnknown
	}
	return sr
}
