package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/initramfs"
	"github.com/bootchain/bootchain/qemu"
	"github.com/bootchain/bootchain/source"
	"github.com/bootchain/bootchain/verify"
)

// enterSource is the commented hex0 source of enter, the guest's helper for
// steps that declare a working directory or an environment (i386 Linux):
//
//	enter DIR [NAME=VALUE]... -- PROG [ARG]...
//
//go:embed guest/x86/enter.hex0
var enterSource []byte

// enterSourceAMD64 is the same enter for x86-64 Linux, for an amd64
// chain's guest, whose catm is x86-64 too (qemu.CatmSourceFor).
//
//go:embed guest/amd64/enter.hex0
var enterSourceAMD64 []byte

// enterSourceFor returns the source of the enter a guest for arch assembles.
func enterSourceFor(arch string) []byte {
	if arch == "amd64" {
		return enterSourceAMD64
	}
	return enterSource
}

// Where the guest keeps enter: beside the qemu package's own files.
const (
	enterPath     = qemu.GuestDir + "/enter"
	enterHex0Path = qemu.GuestDir + "/enter.hex0"
	enterStep     = "bootchain:assemble-enter" // the guest step that assembles it
)

// guestPlan is a run's guest and how its steps map to the chain's.
type guestPlan struct {
	guest  qemu.Guest
	steps  []int               // chain step index of each guest step; -1 for enter's assembly
	inputs []map[string]string // the root each chain step starts from, as the pins predict it; nil before --from
	// checkList is what the guest checks its root against before the
	// first step (a run --from, guestcheck.go); nil: no check.
	checkList []byte
	checkStep int // the guest step that checks it
}

// QEMUGuest returns the guest `bootchain run --backend qemu` boots for opts
// (Chain, Sources, Until, Unverified, CacheDir, TempDir are used): the seeds
// and the pinned files of every source the steps up to Until use, each
// checked against its pin, and the steps themselves. Writing its Entries
// with initramfs.WriteFile gives the very archive the run boots.
func QEMUGuest(ctx context.Context, opts Options) (qemu.Guest, error) {
	if opts.Chain == nil {
		return qemu.Guest{}, errors.New("engine: no chain")
	}
	r := &run{opts: opts, c: opts.Chain, log: opts.Log, state: map[string]fileState{}, opened: map[string]bool{}}
	if r.log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		r.log = l
	}
	r.opts.WorkDir = "" // not used here
	r.opts.From = ""    // the initramfs of a whole run: no cache involved
	if err := r.check(); err != nil {
		return qemu.Guest{}, err
	}
	var err error
	if r.cache = opts.CacheDir; r.cache == "" {
		if r.cache, err = source.CacheDir(); err != nil {
			return qemu.Guest{}, err
		}
	}
	base := opts.TempDir
	if base == "" {
		base = scratchBase()
	}
	if r.scratch, err = newScratch(base); err != nil {
		return qemu.Guest{}, fmt.Errorf("guest root: %w", err)
	}
	defer r.scratch.remove()
	r.tree = filepath.Join(r.scratch.dir, "tree")
	r.report = &verify.Report{Seeds: map[string]string{}} // seedFiles records the seeds there
	seeds, err := r.seedFiles()
	if err != nil {
		return qemu.Guest{}, err
	}
	for _, s := range seeds {
		if err := writeBytes(r.tree, s.path, s.bytes, fs.FileMode(s.mode)); err != nil {
			return qemu.Guest{}, fmt.Errorf("seed %s: %w", s.name, err)
		}
		r.state[s.path] = fileState{s.sha256, "seed"}
	}
	p, err := r.planGuest(ctx)
	if err != nil {
		return qemu.Guest{}, err
	}
	return p.guest, nil
}

// planGuest opens (verifies and places in the tree) every source the steps
// up to r.last use and builds the guest: its files are read back from the
// tree into memory and checked against their hashes once more, so what
// the guest gets is what was verified.
func (r *run) planGuest(ctx context.Context) (*guestPlan, error) {
	c := r.c
	var kaem, hex0Seed string
	for _, s := range c.Seeds {
		switch s.Name {
		case "kaem-optional-seed":
			kaem = s.Path
		case "hex0-seed":
			hex0Seed = s.Path
		}
	}
	if kaem == "" || hex0Seed == "" {
		return nil, fmt.Errorf("chain %s: the qemu backend needs both seeds, hex0-seed and kaem-optional-seed (the guest's init), found %d seed(s)", c.Name, len(c.Seeds))
	}
	p := &guestPlan{guest: qemu.Guest{Kaem: kaem, Hex0: hex0Seed, Key: c.Digest(), Script: qemu.ScriptFor(c.Arch), Arch: c.Arch}}
	pending := map[string]string{} // outputs of the earlier steps, by their pins
	dirs := map[string]bool{}
	needEnter := false
	p.inputs = make([]map[string]string, r.last+1)
	for i := r.from; i <= r.last; i++ {
		st := c.Steps[i]
		if err := r.openSources(ctx, st); err != nil {
			return nil, &planError{i, err}
		}
		in := r.inputs()
		for q, h := range pending {
			in[q] = h
		}
		p.inputs[i] = in
		for q, h := range st.Outputs {
			pending[q] = h
			if d := path.Dir(q); d != "." {
				dirs[d] = true
			}
		}
		argv, err := guestArgv(st)
		if err != nil {
			return nil, err
		}
		if argv[0] != st.Argv[0] {
			needEnter = true
			if d := strings.TrimPrefix(st.Dir, "/"); d != "" {
				dirs[d] = true
			}
		}
		p.guest.Steps = append(p.guest.Steps, qemu.GuestStep{
			Name: st.Name, Argv: argv, Outputs: chain.SortedPaths(st.Outputs), Timeout: st.Timeout,
		})
		p.steps = append(p.steps, i)
	}
	if needEnter {
		enter := qemu.GuestStep{Name: enterStep, Argv: []string{"/" + hex0Seed, "/" + enterHex0Path, "/" + enterPath}, Timeout: time.Minute}
		p.guest.Steps = append([]qemu.GuestStep{enter}, p.guest.Steps...)
		p.steps = append([]int{-1}, p.steps...)
		p.guest.Files = append(p.guest.Files, initramfs.File{Path: enterHex0Path, Mode: 0o644, Data: enterSourceFor(c.Arch)})
	}
	// Everything the guest starts with, as verified.
	start := map[string]string{}
	for _, q := range chain.SortedPaths(r.inputs()) {
		start[q] = r.state[q].sha256
		if q == qemu.GuestDir || strings.HasPrefix(q, qemu.GuestDir+"/") || q == p.guest.Script {
			return nil, fmt.Errorf("chain %s: file %s is where the qemu backend keeps its own files; rename it to run the chain under qemu", c.Name, q)
		}
		hp := hostPath(r.tree, q)
		b, err := verify.ReadRegular(hp, 0)
		if err != nil {
			return nil, fmt.Errorf("guest root: %w", err)
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != r.state[q].sha256 {
			return nil, &verify.MismatchError{Path: q, Expected: r.state[q].sha256, Actual: got,
				Meaning: "the file changed in the run's tree after it was verified (" + r.state[q].origin + ")"}
		}
		fi, err := os.Stat(hp)
		if err != nil {
			return nil, fmt.Errorf("guest root: %w", err)
		}
		mode := fs.FileMode(0o644)
		if fi.Mode()&0o111 != 0 {
			mode = 0o755
		}
		p.guest.Files = append(p.guest.Files, initramfs.File{Path: q, Mode: mode, Data: b})
		for d := path.Dir(q); d != "."; d = path.Dir(d) {
			delete(dirs, d) // made by initramfs as the file's parent
		}
	}
	// The stage0 tools cannot make directories: every output's directory,
	// and every step's working directory, exists from the start.
	for _, d := range slices.Sorted(func(yield func(string) bool) {
		for d := range dirs {
			if !yield(d) {
				return
			}
		}
	}) {
		p.guest.Files = append(p.guest.Files, initramfs.Dir{Path: d, Mode: 0o755})
	}
	if r.from > 0 {
		// Outputs from the host's cache: the guest checks them itself.
		if err := p.addGuestCheck(hex0Seed, start); err != nil {
			return nil, fmt.Errorf("chain %s: --from %s: %w", c.Name, c.Steps[r.from].Name, err)
		}
	}
	if _, err := p.guest.ScriptText(); err != nil {
		return nil, fmt.Errorf("chain %s: %w", c.Name, err)
	}
	return p, nil
}

// planError is a failure to prepare step i's files for the guest.
type planError struct {
	step int
	err  error
}

func (e *planError) Error() string { return e.err.Error() }
func (e *planError) Unwrap() error { return e.err }

// guestArgv returns the command the guest runs for st. The kaem seed runs
// commands in "/" with init's environment; a step that declares another
// working directory or its own environment runs through enter.
func guestArgv(st chain.Step) ([]string, error) {
	for _, a := range st.Argv {
		if err := guestToken(st, "argument", a); err != nil {
			return nil, err
		}
	}
	if (st.Dir == "" || st.Dir == "/") && len(st.Env) == 0 {
		return st.Argv, nil
	}
	dir := st.Dir
	if dir == "" {
		dir = "/"
	}
	argv := []string{"/" + enterPath, dir}
	for _, e := range st.Env {
		if err := guestToken(st, "env", e); err != nil {
			return nil, err
		}
		argv = append(argv, e)
	}
	argv = append(argv, "--")
	return append(argv, st.Argv...), nil
}

// guestSpecial is what the kaem seed splits on or treats specially: a
// token of the guest script cannot contain it.
const guestSpecial = " \t\n\r\"#\\\x00"

func guestToken(st chain.Step, what, tok string) error {
	if i := strings.IndexAny(tok, guestSpecial); i >= 0 {
		return fmt.Errorf("step %s: %s %q contains %q, which the qemu guest (the kaem seed runs every command) cannot pass; run this chain with --backend sandbox", st.Name, what, tok, tok[i])
	}
	if tok == "--" && what == "env" {
		return fmt.Errorf("step %s: env %q, expected NAME=VALUE", st.Name, tok)
	}
	return nil
}

// runGuest runs steps 0..r.last in one guest. It returns the failed step,
// or an error that belongs to no step (QEMU or the kernel missing, a guest
// that did not boot).
func (r *run) runGuest(ctx context.Context, b BootBackend, logs string) (*StepError, error) {
	began := time.Now()
	p, err := r.planGuest(ctx)
	var pe *planError
	if errors.As(err, &pe) {
		// A source the step uses did not verify: the guest never boots.
		st := r.c.Steps[pe.step]
		r.report.Steps[pe.step].Status = verify.StatusFailed
		e := Event{Kind: EventEnd, Step: st.Name, Index: pe.step + 1, Total: r.last + 1, Status: verify.StatusFailed, Error: pe.err.Error()}
		r.emit(e)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("step %s: %w", st.Name, ctx.Err())
		}
		return &StepError{Step: st.Name, Err: pe.err, Command: st.Argv}, nil
	}
	if err != nil {
		return nil, err
	}
	if testGuestHook != nil {
		testGuestHook(&p.guest)
	}
	// An auditor's hook decides between steps: the guest waits for it.
	p.guest.Pause = r.opts.AfterStep != nil
	for i := r.from; i <= r.last; i++ {
		if st := r.c.Steps[i]; st.Strict {
			r.log.WithField("step", st.Name).Info("strict: the guest cannot list the files a step leaves, so undeclared files are not checked under qemu")
		}
	}
	console, err := os.Create(filepath.Join(logs, "console.log"))
	if err != nil {
		return nil, fmt.Errorf("guest console log: %w", err)
	}
	defer console.Close()
	g := &guestRun{ctx: ctx, r: r, p: p, logs: logs, began: began, cur: -1, console: console}
	if uc, ok := b.(userConsoler); ok {
		g.user = uc.UserConsole()
	}
	r.log.WithFields(logrus.Fields{"steps": r.last + 1, "files": len(p.guest.Files)}).Info("booting the guest")
	runErr := b.Boot(ctx, p.guest, qemu.BootEnv{Event: g.event, Console: g, Log: r.log, CacheDir: r.cache, Record: r.recordVM})
	g.mu.Lock()
	defer g.mu.Unlock()
	g.flushUser()
	if runErr == nil || errors.Is(runErr, errStopped) {
		return nil, nil
	}
	if g.hookErr != nil {
		return nil, g.hookErr
	}
	if g.checkFail != nil && ctx.Err() == nil {
		// The guest's own check of its root stopped it: name the file.
		g.checkFail.Step = r.c.Steps[r.from].Name
		runErr = g.checkFail
	}
	return g.fail(ctx, runErr)
}

// guestRun follows one guest through its steps.
type guestRun struct {
	ctx   context.Context
	r     *run
	p     *guestPlan
	logs  string
	began time.Time

	mu      sync.Mutex // console lines arrive on another goroutine than events
	cur     int        // chain step running, -1 between steps
	start   time.Time
	lf      *os.File
	lw      *logWriter
	logFile string
	console io.Writer  // the whole console, for the run's logs
	user    io.Writer  // the whole console, for the person (--console)
	partial []byte     // console bytes not yet written to user: an unfinished line
	stepLog lineFilter // the console, less the protocol's echoes, to lw
	ready   bool
	hookErr error // the AfterStep hook's error, between steps

	checking  bool                  // the guest is checking its root (guestcheck.go)
	checkFail *verify.MismatchError // the first file that check reported FAILED

	// The console and the data port are read apart, so a step's first
	// console lines may arrive before its begin frame and its last ones
	// after its end frame. The kaem seed's echoes of the protocol's own
	// commands put the console in order: lines after the echo of step n's
	// begin are held (held) until its log opens, and the step's end waits
	// (briefly) for the echo of its end (endEcho, signalled by echoed).
	conLine []byte // console bytes of an unfinished line, for the echoes
	held    [][]byte
	endEcho int // last guest step whose end echo the console showed
	echoed  *sync.Cond
}

// echoWait bounds how long a step's end waits for the console to catch up.
const echoWait = 2 * time.Second

// Write receives the guest console (already text) from package qemu.
func (g *guestRun) Write(b []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.console.Write(b)
	g.conLine = eachLine(g.conLine, b, g.consoleLine)
	if g.user != nil {
		g.partial = append(g.partial, b...)
		if i := bytes.LastIndexByte(g.partial, '\n'); i >= 0 {
			g.user.Write(g.partial[:i+1])
			g.partial = append(g.partial[:0], g.partial[i+1:]...)
		}
	}
	return len(b), nil
}

// consoleLine routes one whole console line: a protocol echo moves the
// console's idea of the current step, any other line goes to the open
// step log, or is held for the step whose begin echo came last. Called
// with g.mu held.
func (g *guestRun) consoleLine(l []byte) {
	if g.checking && g.checkFail == nil {
		g.checkFail = guestCheckFailure(string(l))
	}
	if kind, n, ok := qemu.EchoedFrame(l); ok {
		switch kind {
		case qemu.FrameBegin:
			g.held = [][]byte{}
		case qemu.FrameEnd:
			g.endEcho = n
			if g.echoed != nil {
				g.echoed.Broadcast()
			}
		}
	}
	if g.stepLog.w != nil {
		g.stepLog.Write(l)
		return
	}
	if g.held != nil && !bytes.HasPrefix(l, []byte(protocolEcho)) {
		g.held = append(g.held, append([]byte(nil), l...))
	}
}

// awaitEndEcho waits, at most echoWait, until the console has shown the
// echo of guest step n's end, so the step's log is whole. Called with g.mu
// held (the wait releases it).
func (g *guestRun) awaitEndEcho(n int) {
	if g.echoed == nil {
		g.echoed = sync.NewCond(&g.mu)
	}
	deadline := time.Now().Add(echoWait)
	t := time.AfterFunc(echoWait, func() {
		g.mu.Lock()
		g.echoed.Broadcast()
		g.mu.Unlock()
	})
	defer t.Stop()
	for g.endEcho < n && time.Now().Before(deadline) {
		g.echoed.Wait()
	}
}

func (g *guestRun) flushUser() {
	if g.user != nil && len(g.partial) > 0 {
		g.user.Write(append(g.partial, '\n'))
		g.partial = nil
	}
}

// protocolEcho is how the kaem seed echoes the protocol's own commands:
// not part of any step's log.
const protocolEcho = " +> /" + qemu.GuestDir + "/catm "

func (g *guestRun) ev(i int) Event {
	return Event{Step: g.r.c.Steps[i].Name, Index: i + 1, Total: g.r.last + 1}
}

// event follows the guest (package qemu calls it in order, from one
// goroutine); an error stops the VM.
func (g *guestRun) event(e qemu.Event) error {
	if err := g.ctx.Err(); err != nil {
		return err // interrupted: what the guest did since does not count
	}
	r := g.r
	if e.Kind == qemu.EventReady {
		r.log.WithFields(logrus.Fields{"since_start": time.Since(g.began).Round(time.Millisecond), "since_qemu": e.Elapsed.Round(time.Millisecond)}).Info("guest booted")
		return nil
	}
	if g.p.checkList != nil && e.Step == g.p.checkStep {
		return g.checkEvent(e)
	}
	if e.Step < 0 || g.p.steps[e.Step] < 0 {
		return nil // done, or one of the guest's own tools being assembled
	}
	i := g.p.steps[e.Step]
	st := r.c.Steps[i]
	rep := &r.report.Steps[i]
	switch e.Kind {
	case qemu.EventWait:
		// The step before has ended: the hook decides whether to go on.
		if i > r.from {
			if stop, err := r.afterStep(g.ctx, i-1, nil, g.logs); err != nil {
				g.hookErr = err // between steps: no step failed
				return err
			} else if stop {
				return errStopped
			}
		}
		if err := r.beforeStep(g.ctx, i, g.p.inputs[i], false, r.tree); errors.Is(err, ErrStopBefore) {
			r.stopped = true
			return errStopped
		} else if err != nil {
			g.hookErr = err // between steps: no step failed
			return err
		}
		return nil
	case qemu.EventBegin:
		if !g.p.guest.Pause {
			if err := r.beforeStep(g.ctx, i, g.p.inputs[i], false, r.tree); errors.Is(err, ErrStopBefore) {
				r.stopped = true
				return errStopped
			} else if err != nil {
				g.hookErr = err // the step has not begun
				return err
			}
		}
		if !g.ready {
			g.ready = true
			r.log.WithField("seconds", fmt.Sprintf("%.2f", time.Since(g.began).Seconds())).Info("first guest step started")
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		g.logFile = filepath.Join(g.logs, fmt.Sprintf("%02d-%s.log", i+1, st.Name))
		lf, err := os.Create(g.logFile)
		if err != nil {
			return fmt.Errorf("step %s: log: %w", st.Name, err)
		}
		g.cur, g.start, g.lf = i, time.Now(), lf
		g.lw = newLogWriter(lf, func(line string) {
			e := g.ev(i)
			e.Kind, e.Line = EventLog, line
			r.emit(e)
		})
		g.stepLog = lineFilter{w: g.lw}
		for _, l := range g.held { // the step's lines the console showed first
			g.stepLog.Write(l)
		}
		g.held = nil
		e := g.ev(i)
		e.Kind, e.Log = EventStart, g.logFile
		r.emit(e)
		rep.Inputs = pinResults(g.p.inputs[i], g.p.inputs[i], st.Outputs)
		rep.Outputs = []verify.Result{}
	case qemu.EventOutput:
		o := e.Output
		res := verify.Result{Path: o.Path, SHA256: o.SHA256, Expected: st.Outputs[o.Path]}
		res.OK = res.SHA256 == res.Expected
		rep.Outputs = append(rep.Outputs, res)
		// The tree gets the file even when it fails: the person who has to
		// find out why wants to look at it.
		if err := writeBytes(r.tree, o.Path, o.Data, outputMode(o.Data)); err != nil {
			return fmt.Errorf("step %s: output %s: %w", st.Name, o.Path, err)
		}
		if !res.OK {
			if !st.Unverified {
				return res.Err(st.Name)
			}
			r.log.WithError(res.Err(st.Name)).Warn("unverified step did not match its pins")
		}
		r.state[o.Path] = fileState{o.SHA256, "step " + st.Name}
	case qemu.EventStepDone:
		if err := r.deriveOutputs(st, r.tree, rep); err != nil {
			return err
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		g.awaitEndEcho(e.Step + 1)
		g.closeLog()
		rep.Status = verify.StatusOK
		msg := "step verified"
		if st.Unverified {
			rep.Status, msg = verify.StatusUnverified, "step ran (unverified section)"
			if !st.Pinned() {
				msg += "; nothing pinned, so its files stay in the guest and none is reported"
			}
		}
		rep.Seconds = time.Since(g.start).Seconds()
		if e.Result != nil && e.Result.Duration > 0 {
			rep.Seconds = e.Result.Duration.Seconds() // as the guest's backend measured it
		}
		r.log.WithFields(logrus.Fields{"step": st.Name, "seconds": fmt.Sprintf("%.2f", rep.Seconds)}).Info(msg)
		e := g.ev(i)
		e.Kind, e.Status, e.Seconds = EventEnd, rep.Status, rep.Seconds
		r.emit(e)
		g.cur = -1
	}
	return nil
}

// closeLog ends the current step's log. Called with g.mu held.
func (g *guestRun) closeLog() []string {
	if g.lw == nil {
		return nil
	}
	g.stepLog.flush()
	g.lw.flush()
	g.lf.Close()
	tail := g.lw.tail()
	g.lw, g.lf, g.stepLog = nil, nil, lineFilter{}
	return tail
}

// lineFilter passes whole console lines to w, less the kaem seed's echoes
// of the protocol's own commands (lines starting with protocolEcho),
// which belong to no step, and less what follows a kernel panic's first
// line (the call trace: the console log keeps it). Lines written while w
// is nil are dropped.
type lineFilter struct {
	w        io.Writer
	partial  []byte
	panicked bool
}

func (f *lineFilter) Write(b []byte) { f.partial = eachLine(f.partial, b, f.line) }

// eachLine appends b to partial, calls line with every whole line (its
// '\n' included) and returns what is left: a copy of the unfinished line.
func eachLine(partial, b []byte, line func([]byte)) []byte {
	partial = append(partial, b...)
	for {
		i := bytes.IndexByte(partial, '\n')
		if i < 0 {
			break
		}
		line(partial[:i+1])
		partial = partial[i+1:]
	}
	return append([]byte(nil), partial...)
}

func (f *lineFilter) line(l []byte) {
	if f.w == nil || f.panicked || bytes.HasPrefix(l, []byte(protocolEcho)) {
		return
	}
	f.panicked = bytes.Contains(l, []byte("Kernel panic - not syncing:"))
	f.w.Write(l)
}

// flush passes on an unfinished last line.
func (f *lineFilter) flush() {
	if len(f.partial) > 0 {
		f.line(f.partial)
		f.partial = nil
	}
}

// fail turns RunSteps' error into the run's: a *StepError for a failure in
// a step, else the error itself. Called with g.mu held.
func (g *guestRun) fail(ctx context.Context, err error) (*StepError, error) {
	r := g.r
	i := g.cur
	var qse *qemu.StepError
	if errors.As(err, &qse) {
		if j := r.c.StepIndex(qse.Step); j >= 0 {
			i = j
		}
	}
	var me *verify.MismatchError
	if i < 0 && errors.As(err, &me) {
		i = r.c.StepIndex(me.Step)
	}
	if i < 0 || i > r.last {
		g.closeLog()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("qemu: %w", ctx.Err())
		}
		return nil, err
	}
	st := r.c.Steps[i]
	rep := &r.report.Steps[i]
	tail := g.closeLog()
	rep.Status = verify.StatusFailed
	if !g.start.IsZero() && g.cur == i {
		rep.Seconds = time.Since(g.start).Seconds()
	}
	rep.LogTail = tail
	e := g.ev(i)
	e.Kind, e.Status, e.Seconds, e.Error = EventEnd, rep.Status, rep.Seconds, err.Error()
	r.emit(e)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("step %s: %w", st.Name, ctx.Err())
	}
	if !strings.HasPrefix(err.Error(), "step "+st.Name+":") {
		err = fmt.Errorf("step %s: %w", st.Name, err)
	}
	// The tree holds what the guest started from and every file it sent,
	// the failing one included: keep it for inspection.
	rep.WorkDir = r.tree
	se := &StepError{Step: st.Name, Err: err, Command: st.Argv, LogTail: tail, WorkDir: r.tree}
	if _, statErr := os.Stat(g.logFile); g.logFile != "" && statErr == nil && g.cur == i {
		se.LogFile = g.logFile
	}
	return se, nil
}

// outputMode is the mode a received file gets in the tree: the guest sends
// no permission bits, so ELF executables get 0755 and the rest 0644.
func outputMode(b []byte) fs.FileMode {
	if bytes.HasPrefix(b, []byte("\x7fELF")) {
		return 0o755
	}
	return 0o644
}

// checkEvent follows the guest's check of its own root (guestcheck.go).
func (g *guestRun) checkEvent(e qemu.Event) error {
	r := g.r
	switch e.Kind {
	case qemu.EventBegin:
		g.mu.Lock()
		g.checking = true
		g.mu.Unlock()
	case qemu.EventOutput:
		if err := checkGuestList(g.p.checkList, e.Output.Data); err != nil {
			var me *verify.MismatchError
			if errors.As(err, &me) {
				me.Step = r.c.Steps[r.from].Name
				return me
			}
			return fmt.Errorf("step %s: %w", r.c.Steps[r.from].Name, err)
		}
	case qemu.EventStepDone:
		g.mu.Lock()
		g.checking = false
		g.mu.Unlock()
		files := bytes.Count(g.p.checkList, []byte("\n"))
		var size int64
		for _, f := range g.p.guest.Files {
			if f, ok := f.(initramfs.File); ok && f.Path != checkListPath && f.Path != checkHex0Path && f.Path != enterHex0Path {
				size += int64(len(f.Data))
			}
		}
		r.log.WithFields(logrus.Fields{"files": files, "bytes": size, "seconds": fmt.Sprintf("%.2f", e.Result.Duration.Seconds())}).Info("the guest checked its root against the pins (sha256check)")
	}
	return nil
}

// recordVM notes in the report what the guest runs with: the accelerator
// and the kernel image's SHA-256 (an attestation names both); a guest
// booted without a kernel image (builder-hex0) names none.
func (r *run) recordVM(accel qemu.Accel, kernel string) {
	r.report.Accel = string(accel)
	if kernel == "" {
		return
	}
	h, err := verify.File(kernel)
	if err != nil {
		r.log.WithFields(logrus.Fields{"kernel": kernel, "reason": err.Error()}).Warn("cannot hash the kernel image; the report will not name it")
		return
	}
	r.report.KernelSHA256 = h
}
