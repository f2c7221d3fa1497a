package builderhex0

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/bootchain/bootchain/qemu"
)

// Defaults for a run.
const (
	// DefaultMemoryMiB is what builder-hex0 asks for: its memory map
	// reaches 0xBBFFFFFF.
	DefaultMemoryMiB = 4096
	// MinMemoryMiB reaches the top of that map.
	MinMemoryMiB = 3072
	// DefaultIdleTimeout is how long the console may stay silent. The
	// kaem seed echoes every command and the kernel names every program
	// it starts, so a long silence is a guest that hangs; but one program
	// can compute for minutes under TCG (M0 on M2-Planet's 2 MB of M1
	// took about 5 minutes on a loaded host).
	DefaultIdleTimeout = 20 * time.Minute
	// bootAllowance is added to the steps' timeouts for booting and
	// loading the sources.
	bootAllowance = 10 * time.Minute
)

// Config configures Run.
type Config struct {
	QEMU        string        // emulator; empty: qemu-system-x86_64 from PATH
	Accel       qemu.Accel    // kvm or tcg; empty or auto: tcg (see Accel)
	MemoryMiB   int           // 0: DefaultMemoryMiB
	IdleTimeout time.Duration // 0: DefaultIdleTimeout; negative: never
	Timeout     time.Duration // the whole boot; 0: the steps' timeouts (none when a step has none) plus bootAllowance
	ImageSize   int64         // 0: DefaultImageSize
	TempDir     string        // where the disk image is written; empty: the system's
	// Console receives the guest console as text, as Run replays it:
	// each step's lines between its events.
	Console io.Writer
	// Raw, when set, receives the console as it arrives (a live view).
	Raw io.Writer
	Log logrus.FieldLogger
	// OnStart is called with the accelerator once QEMU runs.
	OnStart func(accel qemu.Accel)
}

// ErrGuest is wrapped by failures of the guest as a whole (it hung, wrote
// no result, or its result does not decode).
var ErrGuest = errors.New("builder-hex0 guest")

// consoleLine is one line of the console and when it arrived.
type consoleLine struct {
	t    time.Time
	text []byte // with its '\n'
}

// Run boots g on builder-hex0 (kernel k) under QEMU, waits for the machine
// to stop, reads the result area from the disk and reports it through
// onEvent as package qemu's RunSteps would: ready, then for every step
// begin, end, each output (hashed here) and step-done, then done. The
// steps' console lines reach cfg.Console between their events. A step
// whose command failed ends the run with a *qemu.StepError; a guest that
// hangs, writes no result or a damaged one with an error wrapping
// ErrGuest. QEMU never outlives Run.
func Run(ctx context.Context, k Kernel, g qemu.Guest, cfg Config, onEvent func(qemu.Event) error) error {
	if cfg.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		cfg.Log = l
	}
	if onEvent == nil {
		onEvent = func(qemu.Event) error { return nil }
	}
	script, err := Script(g)
	if err != nil {
		return err
	}
	return runScript(ctx, k, script, g, cfg, onEvent)
}

// runScript is Run with the build script given.
func runScript(ctx context.Context, k Kernel, script []byte, g qemu.Guest, cfg Config, onEvent func(qemu.Event) error) error {
	if cfg.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		cfg.Log = l
	}
	if onEvent == nil {
		onEvent = func(qemu.Event) error { return nil }
	}
	bin, err := qemu.FindQEMU(cfg.QEMU)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(cfg.TempDir, "bootchain-builder-hex0-")
	if err != nil {
		return fmt.Errorf("builder-hex0: %w", err)
	}
	defer os.RemoveAll(dir)
	img := filepath.Join(dir, "disk.img")
	size := cfg.ImageSize
	if size == 0 {
		size = DefaultImageSize
	}
	if err := WriteImage(img, k, script, size); err != nil {
		return err
	}
	lines, err := boot(ctx, bin, img, g, cfg)
	if err != nil {
		return err
	}
	n, err := flushLength(lines)
	if err != nil {
		return fmt.Errorf("%w: %v%s", ErrGuest, err, lastLines(lines, 5))
	}
	area, err := readArea(img, n)
	if err != nil {
		return err
	}
	res, err := Decode(area, g)
	if err != nil {
		return err
	}
	return replay(g, res, lines, cfg.Console, onEvent)
}

// Accel returns the accelerator a run uses for a: KVM only when asked for;
// auto means TCG, which always works (a KVM that cannot run this guest
// hangs in the firmware rather than failing).
func Accel(a qemu.Accel) qemu.Accel {
	if a == qemu.AccelKVM {
		return qemu.AccelKVM
	}
	return qemu.AccelTCG
}

// Args returns QEMU's arguments for booting img.
func Args(img string, memMiB int, accel qemu.Accel) []string {
	return []string{
		"-machine", "pc", "-accel", string(accel),
		"-m", strconv.Itoa(memMiB),
		// The BIOS prints int 10h text on the serial port only without a
		// display (SeaBIOS's sercon), and the kernel writes its console
		// with int 10h.
		"-nographic", "-monitor", "none", "-serial", "stdio",
		"-nic", "none", "-no-reboot",
		"-drive", "file=" + img + ",format=raw,if=ide",
	}
}

// boot runs QEMU until the guest stops (builder-hex0 reboots after it
// writes its result; -no-reboot makes that QEMU's exit) and returns the
// console lines.
func boot(ctx context.Context, bin, img string, g qemu.Guest, cfg Config) ([]consoleLine, error) {
	mem := cfg.MemoryMiB
	if mem == 0 {
		mem = DefaultMemoryMiB
	}
	if mem < MinMemoryMiB {
		return nil, fmt.Errorf("builder-hex0: %d MiB of memory, expected at least %d: the kernel keeps its files at 0x54000000-0xBBFFFFFF", mem, MinMemoryMiB)
	}
	accel := Accel(cfg.Accel)
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = bootAllowance
		for _, s := range g.Steps {
			if s.Timeout <= 0 {
				timeout = 0
				break
			}
			timeout += s.Timeout
		}
	}
	idle := cfg.IdleTimeout
	if idle == 0 {
		idle = DefaultIdleTimeout
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if timeout > 0 {
		var stop context.CancelFunc
		runCtx, stop = context.WithTimeoutCause(runCtx, timeout, fmt.Errorf("%w: still running after %s (the steps' timeouts plus %s to boot)", ErrGuest, timeout, bootAllowance))
		defer stop()
	}
	cmd := exec.CommandContext(runCtx, bin, Args(img, mem, accel)...)
	cmd.Stdin = nil
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("builder-hex0: %w", err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("builder-hex0: start %s: %w", bin, err)
	}
	cfg.Log.WithFields(logrus.Fields{"qemu": bin, "accel": accel, "memory_mib": mem}).Info("booting builder-hex0")
	if cfg.OnStart != nil {
		cfg.OnStart(accel)
	}
	var (
		mu    sync.Mutex
		lines []consoleLine
		last  = time.Now()
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := bufio.NewReader(out)
		var cur []byte
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				now := time.Now()
				if cfg.Raw != nil {
					cfg.Raw.Write(consoleText(buf[:n]))
				}
				mu.Lock()
				last = now
				for _, c := range buf[:n] {
					if c == '\r' {
						continue
					}
					cur = append(cur, c)
					if c == '\n' {
						lines = append(lines, consoleLine{now, cur})
						cur = nil
					}
				}
				mu.Unlock()
			}
			if err != nil {
				break
			}
		}
		if len(cur) > 0 {
			mu.Lock()
			lines = append(lines, consoleLine{time.Now(), append(cur, '\n')})
			mu.Unlock()
		}
	}()
	if idle > 0 {
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					mu.Lock()
					silent := time.Since(last)
					mu.Unlock()
					if silent > idle {
						cancel(fmt.Errorf("%w: no console output for %s: the guest hangs", ErrGuest, idle.Round(time.Second)))
						return
					}
				}
			}
		}()
	}
	<-done
	werr := cmd.Wait()
	cfg.Log.WithField("seconds", fmt.Sprintf("%.1f", time.Since(start).Seconds())).Info("builder-hex0 stopped")
	mu.Lock()
	defer mu.Unlock()
	if cause := context.Cause(runCtx); cause != nil {
		if ctx.Err() != nil {
			return lines, fmt.Errorf("builder-hex0: %w", ctx.Err())
		}
		return lines, fmt.Errorf("%w (QEMU stopped)%s", cause, lastLines(lines, 5))
	}
	if werr != nil {
		return lines, fmt.Errorf("%w: %s exited: %v: %s", ErrGuest, bin, werr, bytes.TrimSpace(stderr.Bytes()))
	}
	return lines, nil
}

var lengthRE = regexp.MustCompile(`^[0-9A-F]{8}\s*$`)

// flushLength finds the length the kernel printed when it wrote /dev/hda
// to the disk: the eight hex digits after "Build finished.".
func flushLength(lines []consoleLine) (int64, error) {
	fin := -1
	for i, l := range lines {
		if bytes.Contains(l.text, []byte("Build finished.")) {
			fin = i
		}
	}
	if fin < 0 {
		return 0, errors.New("the kernel's shell never reached the end of its script (no \"Build finished.\" on the console)")
	}
	for _, l := range lines[fin+1:] {
		t := bytes.TrimSpace(l.text)
		if bytes.Contains(t, []byte("ERROR: no hda writes")) {
			return 0, errors.New("the guest wrote no result: the kernel found no /dev/hda to write back (\"ERROR: no hda writes!\")")
		}
		if lengthRE.Match(t) {
			n, _ := strconv.ParseInt(string(t), 16, 64)
			return n, nil
		}
	}
	return 0, errors.New("the kernel printed no length after \"Build finished.\": the result was not written")
}

// readArea reads the first n bytes of the disk image.
func readArea(img string, n int64) ([]byte, error) {
	f, err := os.Open(img)
	if err != nil {
		return nil, fmt.Errorf("builder-hex0: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("builder-hex0: %w", err)
	}
	if n > fi.Size() {
		return nil, fmt.Errorf("%w: the kernel wrote %d bytes, the disk holds %d", ErrResult, n, fi.Size())
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("builder-hex0: %w", err)
	}
	return b, nil
}

// replay reports the decoded result as events, with the console lines
// between them.
func replay(g qemu.Guest, res *Result, lines []consoleLine, console io.Writer, onEvent func(qemu.Event) error) error {
	i := 0
	write := func(l consoleLine) {
		if console != nil {
			console.Write(consoleText(l.text))
		}
	}
	// upTo writes the lines up to and including the echo of kind for
	// step n and returns its time; ok is false when there is none.
	upTo := func(kind qemu.FrameKind, n int) (time.Time, bool) {
		for j := i; j < len(lines); j++ {
			if k, m, ok := qemu.EchoedFrame(lines[j].text); ok && k == kind && m == n {
				for ; i <= j; i++ {
					write(lines[i])
				}
				return lines[j].t, true
			}
		}
		return time.Time{}, false
	}
	rest := func() {
		for ; i < len(lines); i++ {
			write(lines[i])
		}
	}
	if err := onEvent(qemu.Event{Kind: qemu.EventReady, Step: -1}); err != nil {
		return err
	}
	for _, s := range res.Steps {
		idx := s.Step - 1
		gs := g.Steps[idx]
		began, ok1 := upTo(qemu.FrameBegin, s.Step)
		if err := onEvent(qemu.Event{Kind: qemu.EventBegin, Step: idx, Name: gs.Name}); err != nil {
			return err
		}
		ended, ok2 := upTo(qemu.FrameEnd, s.Step)
		if err := onEvent(qemu.Event{Kind: qemu.EventEnd, Step: idx, Name: gs.Name}); err != nil {
			return err
		}
		sr := &qemu.StepResult{Name: gs.Name}
		if ok1 && ok2 {
			sr.Duration = ended.Sub(began)
		}
		for _, o := range s.Outputs {
			sum := sha256.Sum256(o.Data)
			o.SHA256 = hex.EncodeToString(sum[:])
			sr.Outputs = append(sr.Outputs, o)
			if err := onEvent(qemu.Event{Kind: qemu.EventOutput, Step: idx, Name: gs.Name, Output: &o}); err != nil {
				return err
			}
		}
		if err := onEvent(qemu.Event{Kind: qemu.EventStepDone, Step: idx, Name: gs.Name, Result: sr}); err != nil {
			return err
		}
	}
	if res.Done {
		rest()
		return onEvent(qemu.Event{Kind: qemu.EventDone, Step: -1})
	}
	n := res.Failed - 1 // the step whose command failed
	gs := g.Steps[n]
	if _, ok := upTo(qemu.FrameBegin, n+1); ok {
		if err := onEvent(qemu.Event{Kind: qemu.EventBegin, Step: n, Name: gs.Name}); err != nil {
			return err
		}
		rest()
		return &qemu.StepError{Step: gs.Name, Err: errors.New("the command failed in the builder-hex0 guest (the kaem seed stopped at it; see its log)")}
	}
	rest()
	return &qemu.StepError{Step: gs.Name, Err: fmt.Errorf("%w: stopped before the step began (see the console log)", ErrGuest)}
}

// consoleText drops what the BIOS's serial console adds for a terminal:
// escape sequences and carriage returns.
func consoleText(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == 0x1b:
			// ESC c, or ESC [ ... final byte.
			if i+1 < len(b) && b[i+1] == '[' {
				i += 2
				for i < len(b) && (b[i] < 0x40 || b[i] > 0x7e) {
					i++
				}
			} else {
				i++
			}
		case c == '\r':
		default:
			out = append(out, c)
		}
	}
	return out
}

func lastLines(lines []consoleLine, n int) string {
	if len(lines) == 0 {
		return "; the console stayed empty"
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var b bytes.Buffer
	b.WriteString("; the console ended with:")
	for _, l := range lines {
		b.WriteString("\n    ")
		b.Write(bytes.TrimRight(consoleText(l.text), "\n"))
	}
	return b.String()
}
