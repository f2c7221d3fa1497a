package qemu

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bootchain/bootchain/initramfs"
)

// CatmSource is the commented hex0 source of the guest's catm (i386 Linux;
// it also runs on an x86-64 kernel with 32-bit compatibility).
//
//go:embed guest/x86/catm.hex0
var CatmSource []byte

// CatmSourceAMD64 is the same catm for x86-64 Linux, which an amd64
// chain's guest (Guest.Arch) assembles: with it a run needs no 32-bit
// support from the guest kernel.
//
//go:embed guest/amd64/catm.hex0
var CatmSourceAMD64 []byte

// CatmSourceFor returns the source of the catm a guest for arch assembles:
// the x86-64 one for amd64, else the i386 one.
func CatmSourceFor(arch string) []byte {
	if arch == "amd64" {
		return CatmSourceAMD64
	}
	return CatmSource
}

// SHA256CheckSource is the commented hex0 source of sha256check, which a
// Standalone guest runs on every output: `sha256check LIST OUT` hashes each
// file LIST names, appends "<actual>  <path>\n" to OUT and prints "OK path"
// or "FAILED path sha256 X expected Y".
//
//go:embed guest/x86/sha256check.hex0
var SHA256CheckSource []byte

// InitSource is the commented hex0 source of a Standalone guest's init:
// `init ACTION FIFO OUT1 OUT2 KAEM SCRIPT...` runs KAEM SCRIPT for each
// SCRIPT whatever the one before did, copies all they print to both OUT
// files, then halts, powers off or exits as ACTION says.
//
//go:embed guest/x86/init.hex0
var InitSource []byte

// IndirSource is the commented hex0 source of indir: `indir DIR
// [NAME=VALUE...] -- PROGRAM ARG...` changes to DIR and execs PROGRAM with
// exactly the NAME=VALUE environment: a step's working directory and
// environment, which the kaem seed cannot set.
//
//go:embed guest/x86/indir.hex0
var IndirSource []byte

// Paths the protocol adds to the guest root.
const (
	GuestDir      = "bootchain"         // everything the protocol adds, but the script
	DefaultScript = "kaem.x86"          // what the x86 kaem seed reads when run with no argument
	catmPath      = GuestDir + "/catm"  // assembled in the guest
	frameDir      = GuestDir + "/frame" // marker files
	dataTTY       = "/dev/ttyS1"        // the data channel
	eofByte       = 0x04                // VEOF of a default termios: ^D
	catmHex0Path  = GuestDir + "/catm.hex0"
)

// GuestStep is one step run in the guest.
type GuestStep struct {
	Name    string
	Argv    []string      // argv[0] is a path in the root (relative paths start at /)
	Outputs []string      // paths relative to the root, sent to the host in this order
	Timeout time.Duration // from the step's start to its last output; 0: none
}

// Guest is a guest root and the steps it runs. Its init is the kaem seed,
// which reads Script; the hex0 seed assembles catm before the first step.
type Guest struct {
	Kaem   string // path in the root of the kaem seed: the guest's init
	Hex0   string // path in the root of the hex0 seed
	Script string // path in the root of the generated script; default kaem.x86 (see ScriptFor)
	// Arch is the architecture of the catm the guest assembles (see
	// CatmSourceFor): "amd64" for x86-64, else i386.
	Arch  string
	Steps []GuestStep
	Files []initramfs.Entry // the rest of the root, seeds included
	Key   string            // frame nonce key, e.g. the chain digest; default: derived from Steps
	Pause bool              // the guest waits for the host before each step
	// Env is added to the environment every step sees, as NAME=value. The
	// kaem seed cannot set variables, so they travel on the kernel command
	// line, which hands unknown NAME=value arguments to init; the kernel's
	// own HOME=/ and TERM=linux are always there too.
	Env []string
}

// Nonce returns the frame nonce of g.
func (g Guest) Nonce() string {
	if g.Key != "" {
		return Nonce(g.Key)
	}
	h := sha256.New()
	for _, s := range g.Steps {
		fmt.Fprintf(h, "%q %q %q\n", s.Name, s.Argv, s.Outputs)
	}
	return Nonce(hex.EncodeToString(h.Sum(nil)))
}

// kaem-minimal splits on spaces and tabs, ends a command at a newline, and
// gives '"', '#' and '\' special meanings; a token the script passes must
// contain none of them.
const kaemSpecial = " \t\n\r\"#\\\x00"

func checkToken(what, tok string) error {
	if tok == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if i := strings.IndexAny(tok, kaemSpecial); i >= 0 {
		return fmt.Errorf("%s %q contains %q, which the kaem seed cannot pass through", what, tok, tok[i])
	}
	return nil
}

// ScriptFor returns the script the kaem seed of arch (hex0/<arch>) reads
// when the kernel runs it as init, with no argument: kaem.x86 or
// kaem.amd64, as upstream names its per-architecture top-level scripts.
func ScriptFor(arch string) string {
	if arch == "" {
		return DefaultScript
	}
	return "kaem." + arch
}

func (g Guest) script() string {
	if g.Script == "" {
		return DefaultScript
	}
	return g.Script
}

func (g Guest) check() error {
	have := map[string]bool{}
	for _, e := range g.Files {
		if e == nil {
			continue
		}
		if p, err := initramfs.Clean(e.EntryPath()); err == nil {
			have[p] = true
		}
	}
	for _, s := range []struct{ what, p string }{{"kaem seed", g.Kaem}, {"hex0 seed", g.Hex0}} {
		p, err := initramfs.Clean(s.p)
		if err != nil {
			return fmt.Errorf("guest: %s: %w", s.what, err)
		}
		if !have[p] {
			return fmt.Errorf("guest: %s %s is not among the root's files", s.what, s.p)
		}
		if err := checkToken(s.what+" path", p); err != nil {
			return fmt.Errorf("guest: %w", err)
		}
	}
	if _, err := initramfs.Clean(g.script()); err != nil {
		return fmt.Errorf("guest: script: %w", err)
	}
	for _, kv := range g.Env {
		if !envRE.MatchString(kv) {
			return fmt.Errorf("guest: environment %q, expected NAME=value with a letter or _ first, then letters, digits or _, and a value without spaces, quotes or control characters", kv)
		}
	}
	names := map[string]bool{}
	for i, s := range g.Steps {
		if s.Name == "" || strings.ContainsFunc(s.Name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return fmt.Errorf("guest: step %d: name %q, expected a non-empty name without control characters", i+1, s.Name)
		}
		if names[s.Name] {
			return fmt.Errorf("guest: step %s: listed twice", s.Name)
		}
		names[s.Name] = true
		if len(s.Argv) == 0 {
			return fmt.Errorf("guest: step %s: empty command", s.Name)
		}
		for _, a := range s.Argv {
			if err := checkToken("argument", a); err != nil {
				return fmt.Errorf("guest: step %s: %w", s.Name, err)
			}
		}
		seen := map[string]bool{}
		for _, o := range s.Outputs {
			p, err := initramfs.Clean(o)
			if err != nil {
				return fmt.Errorf("guest: step %s: output: %w", s.Name, err)
			}
			if err := checkToken("output path", p); err != nil {
				return fmt.Errorf("guest: step %s: %w", s.Name, err)
			}
			if seen[p] {
				return fmt.Errorf("guest: step %s: output %s listed twice", s.Name, p)
			}
			seen[p] = true
		}
	}
	return nil
}

func markerFile(kind FrameKind, n, k int) string {
	switch kind {
	case FrameHello, FrameDone:
		return fmt.Sprintf("%s/%s", frameDir, kind)
	case FrameOut:
		return fmt.Sprintf("%s/out-%d-%d", frameDir, n, k)
	}
	return fmt.Sprintf("%s/%s-%d", frameDir, kind, n)
}

func closeFile(n, k int) string { return fmt.Sprintf("%s/close-%d-%d", frameDir, n, k) }

// EchoedFrame recognises, on the guest console, the kaem seed's echo of a
// script line that sends a frame marker, such as
//
//	" +> /bootchain/catm /dev/ttyS1 /bootchain/frame/begin-3"
//
// It is the console's own record of where the guest is, in the order the
// guest wrote it, which the frames on the data port may overtake. It
// returns the frame kind and the step number (1-based; 0 for hello and
// done), or ok false for any other line.
func EchoedFrame(line []byte) (kind FrameKind, step int, ok bool) {
	prefix := " +> /" + catmPath + " " + dataTTY + " /" + frameDir + "/"
	rest, found := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte(prefix))
	if !found {
		return "", 0, false
	}
	name, _, _ := bytes.Cut(rest, []byte(" "))
	k, num, _ := bytes.Cut(name, []byte("-"))
	kind = FrameKind(k)
	switch kind {
	case FrameHello, FrameDone:
		return kind, 0, len(num) == 0
	case FrameWait, FrameBegin, FrameEnd, FrameOut:
		num, _, _ = bytes.Cut(num, []byte("-")) // out-N-K
		n, err := strconv.Atoi(string(num))
		return kind, n, err == nil && n > 0
	}
	return "", 0, false
}

// ScriptText returns the kaem script the guest runs.
func (g Guest) ScriptText() ([]byte, error) {
	if err := g.check(); err != nil {
		return nil, err
	}
	hex0, _ := initramfs.Clean(g.Hex0)
	var b strings.Builder
	send := func(files ...string) {
		b.WriteString("/" + catmPath + " " + dataTTY)
		for _, f := range files {
			b.WriteString(" /" + f)
		}
		b.WriteString("\n")
	}
	b.WriteString("# bootchain guest script, generated by the host (package qemu).\n")
	b.WriteString("# Assemble catm with the hex0 seed, then run each step between\n")
	b.WriteString("# frame markers that catm sends to the host on " + dataTTY + ".\n")
	fmt.Fprintf(&b, "/%s /%s /%s\n", hex0, catmHex0Path, catmPath)
	send(markerFile(FrameHello, 0, 0))
	for i, s := range g.Steps {
		n := i + 1
		fmt.Fprintf(&b, "# step %d: %s\n", n, s.Name)
		if g.Pause {
			b.WriteString("/" + catmPath + " " + dataTTY + " /" + markerFile(FrameWait, n, 0) + " " + dataTTY + "\n")
		}
		send(markerFile(FrameBegin, n, 0))
		b.WriteString(strings.Join(s.Argv, " ") + "\n")
		send(markerFile(FrameEnd, n, 0))
		for j, o := range s.Outputs {
			p, _ := initramfs.Clean(o)
			b.WriteString("/" + catmPath + " " + dataTTY + " /" + markerFile(FrameOut, n, j+1) + " /" + p + " /" + closeFile(n, j+1) + "\n")
		}
	}
	send(markerFile(FrameDone, 0, 0))
	return []byte(b.String()), nil
}

// Entries returns the whole guest root: g.Files, the device nodes, catm's
// source, the marker files and the script. Written with initramfs.Write, it
// is the initramfs RunSteps boots; booted elsewhere (a USB stick) it needs
// the kernel arguments of KernelArgs.
func (g Guest) Entries() ([]initramfs.Entry, error) {
	script, err := g.ScriptText()
	if err != nil {
		return nil, err
	}
	nonce := g.Nonce()
	e := append([]initramfs.Entry(nil), g.Files...)
	e = append(e, initramfs.DeviceNodes()...)
	e = append(e,
		initramfs.File{Path: g.script(), Mode: 0o644, Data: script},
		initramfs.File{Path: catmHex0Path, Mode: 0o644, Data: CatmSourceFor(g.Arch)},
	)
	marker := func(path string, data []byte) {
		e = append(e, initramfs.File{Path: path, Mode: 0o444, Data: data})
	}
	marker(markerFile(FrameHello, 0, 0), Marker(nonce, Frame{Kind: FrameHello}))
	marker(markerFile(FrameDone, 0, 0), Marker(nonce, Frame{Kind: FrameDone}))
	for i, s := range g.Steps {
		n := i + 1
		if g.Pause {
			marker(markerFile(FrameWait, n, 0), Marker(nonce, Frame{Kind: FrameWait, Step: n}))
		}
		marker(markerFile(FrameBegin, n, 0), Marker(nonce, Frame{Kind: FrameBegin, Step: n}))
		marker(markerFile(FrameEnd, n, 0), Marker(nonce, Frame{Kind: FrameEnd, Step: n}))
		for j, o := range s.Outputs {
			p, _ := initramfs.Clean(o)
			marker(markerFile(FrameOut, n, j+1), Marker(nonce, Frame{Kind: FrameOut, Step: n, Output: j + 1, Path: "/" + p}))
			marker(closeFile(n, j+1), CloseMarker(nonce, n, j+1))
		}
	}
	return e, nil
}

// envRE matches what survives the kernel command line into init's
// environment: no dot in the name (that is a module parameter) and nothing
// the command line would split or quote.
var envRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=[^\x00-\x20"'\x7f]*$`)

// KernelArgs returns the kernel command line that boots g's initramfs.
// no_timer_check: under TCG on a loaded host the kernel's IO-APIC timer
// check can miss its window and panic ("IO-APIC + timer doesn't work"),
// seen here with a load average of 24 on 2 cores; the check proves
// nothing about a virtual machine's timer.
func (g Guest) KernelArgs() string {
	kaem, _ := initramfs.Clean(g.Kaem)
	return strings.Join(append([]string{"console=ttyS0", "rdinit=/" + kaem, "panic=-1", "no_timer_check", "quiet"}, g.Env...), " ")
}

// EventKind says what happened in the guest.
type EventKind int

// Events, in the order a step produces them.
const (
	EventReady    EventKind = iota + 1 // the guest booted and assembled catm
	EventWait                          // the guest waits before Step (Guest.Pause)
	EventBegin                         // Step's command starts
	EventEnd                           // Step's command exited 0
	EventOutput                        // an output arrived (Output)
	EventStepDone                      // every output of Step arrived (Result)
	EventDone                          // every step ran
)

func (k EventKind) String() string {
	switch k {
	case EventReady:
		return "ready"
	case EventWait:
		return "wait"
	case EventBegin:
		return "begin"
	case EventEnd:
		return "end"
	case EventOutput:
		return "output"
	case EventStepDone:
		return "step-done"
	case EventDone:
		return "done"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is reported to RunSteps' callback.
type Event struct {
	Kind    EventKind
	Step    int           // index into Guest.Steps; -1 for ready and done
	Name    string        // the step's name
	Output  *Output       // for EventOutput
	Result  *StepResult   // for EventStepDone
	Elapsed time.Duration // since QEMU was started
}

// Output is one output file as the host received it.
type Output struct {
	Path   string // as listed in GuestStep.Outputs, cleaned
	SHA256 string // computed by the host
	Data   []byte
}

// StepResult is what one step produced.
type StepResult struct {
	Name     string
	Outputs  []Output // in GuestStep.Outputs order
	Duration time.Duration
}

// StepError places a guest failure in a step.
type StepError struct {
	Step   string // step name
	Output string // output path, when the failure was sending it
	Err    error
}

func (e *StepError) Error() string {
	if e.Output != "" {
		return fmt.Sprintf("step %s: output %s: %v", e.Step, e.Output, e.Err)
	}
	return fmt.Sprintf("step %s: %v", e.Step, e.Err)
}

// Unwrap returns the underlying error.
func (e *StepError) Unwrap() error { return e.Err }

// ErrProtocol is wrapped by errors in the order or content of frames.
var ErrProtocol = errors.New("guest protocol")

// RunSteps boots g under QEMU and runs its steps: it writes g's initramfs to
// a temporary directory, boots it with opts (WithInitramfs and WithInit are
// set by RunSteps), decodes the frames on ttyS1 and hashes every output. It
// calls onEvent (if not nil) for each event, from one goroutine, in order; an
// error from onEvent stops the VM and is returned as it is (the callback
// knows its step: Event.Name).
// For EventWait the guest stays paused until onEvent returns (the idle
// timeout does not run meanwhile); onEvent must return once ctx is done.
//
// It returns the results of the steps whose outputs all arrived, and nil
// only when every step ran and init exited 0. A failure during a step is a
// *StepError naming the step (and the output being sent) around the cause:
// *InitExitError for a failed command, *HangError, *PanicError,
// *CrashError, the context's error, a step timeout or an ErrProtocol or
// ErrFraming error; a failure outside the steps is the cause, wrapped with
// where the guest was.
func RunSteps(ctx context.Context, g Guest, onEvent func(Event) error, opts ...Option) ([]StepResult, error) {
	entries, err := g.Entries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bootchain-qemu-")
	if err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	defer os.RemoveAll(dir)
	archive := filepath.Join(dir, "initramfs.cpio")
	if err := initramfs.WriteFile(archive, entries, initramfs.Options{}); err != nil {
		return nil, err
	}
	kaem, _ := initramfs.Clean(g.Kaem)
	opts = append(opts[:len(opts):len(opts)], WithInitramfs(archive), WithInit("/"+kaem), WithAppend(g.Env...))
	vm, err := Start(ctx, opts...)
	if err != nil {
		return nil, err
	}
	r := &runner{g: g, vm: vm, onEvent: onEvent, step: -1, done: make(chan struct{})}
	go r.read()
	werr := vm.Wait()
	<-r.done
	vm.Data().Close()
	r.stopTimer()
	return r.results, r.finish(werr)
}

// runner follows the guest through the frames it is expected to send.
type runner struct {
	g       Guest
	vm      *VM
	onEvent func(Event) error
	done    chan struct{}

	mu      sync.Mutex
	phase   FrameKind // last frame seen; "" before hello
	step    int       // index of the current step
	output  int       // outputs of the current step received
	results []StepResult
	cur     *StepResult
	begun   time.Time
	timer   *time.Timer
	err     error // protocol or callback error that stopped the VM
}

func (r *runner) read() {
	defer close(r.done)
	dec := NewDecoder(r.g.Nonce(), r.frame)
	buf := make([]byte, 64<<10)
	conn := r.vm.Data()
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			if _, werr := dec.Write(buf[:n]); werr != nil {
				r.fail(werr)
				return
			}
		}
		if err != nil {
			break
		}
	}
	if err := dec.Close(); err != nil {
		var inc *IncompleteError
		if errors.As(err, &inc) {
			// Reported by finish as the output the guest could not send.
			return
		}
		r.fail(err)
	}
}

// fail records the first error and stops the VM with it. Errors from the
// callback are kept as they are; others are placed in the current step.
func (r *runner) fail(err error) {
	if r.vm.stopReason() != nil {
		// The host already stopped the VM (cancelled, hung, timed out);
		// what failed afterwards is a consequence, not the cause.
		return
	}
	r.mu.Lock()
	if r.err == nil {
		var cb callbackError
		if errors.As(err, &cb) {
			r.err = cb.err
		} else {
			r.err = r.place(err)
		}
	}
	err = r.err
	r.mu.Unlock()
	r.vm.Kill(err)
}

// callbackError carries an error returned by onEvent through the decoder.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

// place wraps err with the step (and output) the guest was in. Called with
// r.mu held.
func (r *runner) place(err error) error {
	var se *StepError
	if errors.As(err, &se) || r.step < 0 {
		return err
	}
	s := r.g.Steps[r.step]
	e := &StepError{Step: s.Name, Err: err}
	if (r.phase == FrameEnd || r.phase == FrameOut) && r.output < len(s.Outputs) {
		e.Output, _ = initramfs.Clean(s.Outputs[r.output])
	}
	return e
}

func (r *runner) event(e Event) error {
	e.Elapsed = time.Since(r.vm.Started())
	if e.Step >= 0 {
		e.Name = r.g.Steps[e.Step].Name
	}
	if r.onEvent == nil {
		return nil
	}
	return r.onEvent(e)
}

// next says which frame the plan expects after the current one, and for
// which step (-1 for hello and done); kind "" once done has arrived.
func (r *runner) next() (FrameKind, int) {
	switch r.phase {
	case "":
		return FrameHello, -1
	case FrameDone:
		return "", -1
	case FrameWait:
		return FrameBegin, r.step
	case FrameBegin:
		return FrameEnd, r.step
	case FrameEnd, FrameOut:
		if r.output < len(r.g.Steps[r.step].Outputs) {
			return FrameOut, r.step
		}
	}
	// After hello (r.step is still -1) or a complete step.
	s := r.step + 1
	if s >= len(r.g.Steps) {
		return FrameDone, -1
	}
	if r.g.Pause {
		return FrameWait, s
	}
	return FrameBegin, s
}

func (r *runner) frame(f Frame) error {
	r.mu.Lock()
	kind, step := r.next()
	ok := f.Kind == kind && (step < 0 || f.Step == step+1)
	var wantPath string
	if kind == FrameOut {
		wantPath, _ = initramfs.Clean(r.g.Steps[step].Outputs[r.output])
		ok = ok && f.Output == r.output+1 && f.Path == "/"+wantPath
	}
	if !ok {
		want := fmt.Sprintf("%s for step %d", kind, step+1)
		switch {
		case kind == "":
			want = "nothing after done"
		case step < 0:
			want = string(kind)
		case kind == FrameOut:
			want = fmt.Sprintf("out %d %d %s", step+1, r.output+1, wantPath)
		}
		err := fmt.Errorf("%w: got frame %s %d %d %q, expected %s", ErrProtocol, f.Kind, f.Step, f.Output, f.Path, want)
		r.mu.Unlock()
		return err
	}
	if f.Kind != FrameHello && f.Kind != FrameDone {
		r.step = step
	}
	r.phase = f.Kind
	var ev Event
	switch f.Kind {
	case FrameHello:
		ev = Event{Kind: EventReady, Step: -1}
	case FrameWait:
		ev = Event{Kind: EventWait, Step: step}
	case FrameBegin:
		r.output = 0
		r.cur = &StepResult{Name: r.g.Steps[step].Name}
		r.begun = time.Now()
		if t := r.g.Steps[step].Timeout; t > 0 {
			r.timer = time.AfterFunc(t, func() {
				r.fail(fmt.Errorf("timed out after %v", t))
			})
		}
		ev = Event{Kind: EventBegin, Step: step}
	case FrameEnd:
		ev = Event{Kind: EventEnd, Step: step}
	case FrameOut:
		sum := sha256.Sum256(f.Data)
		o := Output{Path: wantPath, SHA256: hex.EncodeToString(sum[:]), Data: f.Data}
		r.cur.Outputs = append(r.cur.Outputs, o)
		r.output++
		ev = Event{Kind: EventOutput, Step: step, Output: &o}
	case FrameDone:
		ev = Event{Kind: EventDone, Step: -1}
	}
	r.mu.Unlock()

	if err := r.deliver(ev); err != nil {
		return err
	}
	// A step is complete when its command ended and all outputs arrived.
	r.mu.Lock()
	complete := (f.Kind == FrameEnd || f.Kind == FrameOut) && r.output == len(r.g.Steps[step].Outputs)
	var res StepResult
	if complete {
		r.stopTimerLocked()
		r.cur.Duration = time.Since(r.begun)
		res = *r.cur
		r.results = append(r.results, res)
	}
	r.mu.Unlock()
	if complete {
		return r.deliver(Event{Kind: EventStepDone, Step: step, Result: &res})
	}
	if f.Kind == FrameWait {
		// The guest's catm holds ttyS1 open and reads it: ^D is its end of file.
		if _, err := r.vm.Data().Write([]byte{eofByte}); err != nil {
			return fmt.Errorf("release the guest: %w", err)
		}
	}
	return nil
}

func (r *runner) deliver(ev Event) error {
	if ev.Kind == EventWait {
		r.vm.hold(true)
		defer r.vm.hold(false)
	}
	if err := r.event(ev); err != nil {
		return callbackError{err}
	}
	return nil
}

func (r *runner) stopTimerLocked() {
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
}

func (r *runner) stopTimer() {
	r.mu.Lock()
	r.stopTimerLocked()
	r.mu.Unlock()
}

// finish turns the VM's ending into RunSteps' error.
func (r *runner) finish(werr error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	if werr == nil {
		if r.phase == FrameDone {
			return nil
		}
		werr = errors.New("guest init exited 0 before every step ran")
	}
	if r.vm.stopReason() != nil && r.step >= 0 && r.phase != FrameDone {
		// The host stopped the guest: say where it was, not what failed.
		return r.place(werr)
	}
	var step GuestStep
	if r.step >= 0 {
		step = r.g.Steps[r.step]
	}
	switch r.phase {
	case "":
		return fmt.Errorf("guest failed before the first step (booting, or assembling catm with the hex0 seed): %w", werr)
	case FrameHello:
		if len(r.g.Steps) > 0 {
			return fmt.Errorf("guest failed before step %s began: %w", r.g.Steps[0].Name, werr)
		}
	case FrameWait:
		return &StepError{Step: step.Name, Err: fmt.Errorf("guest failed while waiting for the host: %w", werr)}
	case FrameBegin:
		return &StepError{Step: step.Name, Err: fmt.Errorf("command failed in the guest: %w", werr)}
	case FrameEnd, FrameOut:
		if r.output < len(step.Outputs) {
			p, _ := initramfs.Clean(step.Outputs[r.output])
			return &StepError{Step: step.Name, Output: p, Err: fmt.Errorf("the guest could not send it (not created?): %w", werr)}
		}
		if r.step+1 < len(r.g.Steps) {
			return fmt.Errorf("guest failed after step %s, before step %s began: %w", step.Name, r.g.Steps[r.step+1].Name, werr)
		}
	}
	return fmt.Errorf("guest failed after the last step: %w", werr)
}
