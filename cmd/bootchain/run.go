package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/bootchain/bootchain/builderhex0"
	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/engine"
	"github.com/bootchain/bootchain/source"
	"github.com/bootchain/bootchain/verify"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", "[--chain x86] [--backend sandbox|qemu|builder-hex0] [--kernel FILE|builder-hex0|bootchain] [--memory MIB] [--cpus N] [--console] [--idle-timeout D] [--source NAME=PATH]... [--from STEP] [--until STEP] [--work DIR] [--report FILE] [--attest FILE --key KEY] [--no-cache] [--unverified] [--seeds DIR] [--json] [-v]", stderr)
	rf := addRunFlags(fs, runHelp{
		backend: "the `BACKEND` where steps run: sandbox (Linux namespaces), qemu (one guest boot whose only userland is the seeds) or builder-hex0 (one boot of builder-hex0, a kernel written in hex0, under QEMU's BIOS: no Linux; its source: --source builder-hex0=DIR)",
		until:   "stop after this `STEP`",
		work:    "leave the final tree (upstream layout) and the step logs in this `DIR`",
		report:  "write the JSON report to this `FILE`",
	})
	jsonOut := fs.Bool("json", false, "print progress as JSON lines on stdout (logs as JSON on stderr)")
	af := addAttestFlags(fs)
	seedDir := fs.String("seeds", "", "run with another party's seeds: a `DIR` holding hex0-seed and kaem-optional-seed (e.g. stage0-posix's bootstrap-seeds/POSIX/x86)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	backend, c, err := rf.load("run", pos)
	if err != nil {
		return err
	}
	name, work, reportPath := rf.chain, rf.work, rf.report
	key, err := af.load("run", stderr) // an unusable key is refused before the first step
	if err != nil {
		return err
	}
	if *reportPath != "" {
		// Refused now, not after the last step.
		if err := verify.CheckReportPath(*reportPath); err != nil {
			return err
		}
	}

	log := rf.logger()
	var progress engine.Progress
	switch {
	case *jsonOut:
		log.SetFormatter(&logrus.JSONFormatter{})
		log.SetOutput(stderr)
		progress = engine.JSONProgress{W: stdout}
	case isTerminal(stderr):
		tty := &engine.TTYProgress{W: stderr, Width: termWidth(stderr)}
		log.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true, ForceColors: true})
		log.SetOutput(tty)
		progress = tty
	default:
		log.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true})
		log.SetOutput(stderr)
		progress = &engine.PlainProgress{W: stderr}
	}
	consoleOut := stderr
	if w, ok := progress.(io.Writer); ok {
		consoleOut = w // above the live line
	}
	if err := rf.qemu.apply(fs, backend, consoleOut); err != nil {
		return err
	}

	opts := rf.options(c, backend, log)
	opts.SeedDir, opts.Progress = *seedDir, progress
	rep, runErr := engine.Run(ctx, opts)
	if rep != nil && *reportPath != "" {
		if err := verify.WriteReport(*reportPath, rep); err != nil {
			fmt.Fprintf(stderr, "bootchain: report %s: %v\n", *reportPath, err)
			if runErr == nil {
				return failure{err}
			}
		}
	}
	if runErr != nil && ctx.Err() != nil {
		return runErr // interrupted: Main says so in one line
	}
	if runErr != nil {
		var missing *source.MissingError
		if errors.As(runErr, &missing) && *name != "x86" {
			missing.Chain = *name
		}
		var notCached *engine.NotCachedError
		if errors.As(runErr, &notCached) && *name != "x86" {
			notCached.Chain = *name
		}
		printError(stderr, runErr)
		var se *engine.StepError
		if errors.As(runErr, &se) {
			se.WriteDetails(stderr)
		}
		return failure{runErr}
	}
	if key != nil {
		msgs := stdout
		if *jsonOut {
			msgs = stderr
		}
		if err := writeAttestation(ctx, msgs, rep, "this run", key, *af.out); err != nil {
			return err
		}
	}
	if *jsonOut {
		return nil
	}
	writeRunOutputs(stdout, rep, *seedDir)
	fmt.Fprintf(stdout, "chain %s: %s, digest %s\n", c.Name, runSummary(c, rep), rep.Digest)
	if rep.From != "" {
		fmt.Fprintf(stdout, "started at step %s: %s before it placed from the cache, each file re-hashed; starting tree digest %s\n", rep.From, plural(placedSteps(rep), "step"), rep.StartTree)
	}
	if *work != "" {
		abs, _ := filepath.Abs(*work)
		fmt.Fprintf(stdout, "tree: %s\n", abs)
	}
	return nil
}

// runSummary says what a run did in the numbering its progress used (the
// steps this run meant to run): how many verified, ran unverified or came
// from the cache, where it stopped and why, and which steps it did not
// mean to run ("not requested") with how to run them.
func runSummary(c *chain.Chain, rep *verify.Report) string {
	var verified, unverified, cached, skipped, more, unv, pending int
	lastMore := ""
	for i, s := range rep.Steps {
		switch s.Status {
		case verify.StatusPlaced: // before --from: said on a line of its own
			continue
		case verify.StatusOK:
			verified++
		case verify.StatusUnverified:
			unverified++
		case verify.StatusSkipped:
			skipped++
		case verify.StatusNotRequested:
			switch st := c.Steps[i]; {
			case st.Pending != "":
				pending++
			case st.Unverified:
				unv++
			default:
				more++
				lastMore = st.Name
			}
		}
		if s.Cached {
			cached++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s verified", plural(verified, "step"))
	if unverified > 0 {
		fmt.Fprintf(&b, ", %d unverified", unverified)
	}
	if skipped > 0 {
		fmt.Fprintf(&b, ", %d skipped", skipped)
	}
	fmt.Fprintf(&b, ", %d from the cache (", cached)
	switch rep.UntilFrom {
	case verify.UntilFlag:
		fmt.Fprintf(&b, "--until %s", rep.Until)
	case verify.UntilDefault:
		fmt.Fprintf(&b, "the default stop, %s", rep.Until)
	case verify.UntilVerifiedEnd:
		b.WriteString("the end of the verified section")
	case verify.UntilBeforePending:
		b.WriteString("the last step before a pending one")
	default:
		b.WriteString("every step of the chain")
	}
	var not []string
	if more > 0 {
		not = append(not, fmt.Sprintf("%d more with --until %s", more, lastMore))
	}
	if unv > 0 {
		not = append(not, fmt.Sprintf("%d unverified with --unverified", unv))
	}
	if pending > 0 {
		not = append(not, fmt.Sprintf("%d pending (no commands yet)", pending))
	}
	if len(not) > 0 {
		fmt.Fprintf(&b, "; not requested: %s", strings.Join(not, ", "))
	}
	b.WriteString(")")
	return b.String()
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func termWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
			return int(ws.Col)
		}
	}
	return 80
}

// loadRun checks what run and step share: no positional arguments, a known
// backend, a loadable chain, and --until and --source naming things the
// chain has.
// runFlags are the flags run and step share.
type runFlags struct {
	chain, backend, until, from, work, report *string
	sources                                   sourceFlags
	noCache, unverified, verbose              *bool
	qemu                                      *qemuFlags
}

// runHelp is the wording of the shared flags that differs between run and
// step.
type runHelp struct{ backend, until, work, report string }

func addRunFlags(fs *flag.FlagSet, h runHelp) *runFlags {
	f := &runFlags{sources: sourceFlags{}}
	f.chain = fs.String("chain", "x86", "the `CHAIN`: an embedded name (x86, amd64) or a directory (contains '/')")
	f.backend = fs.String("backend", "sandbox", h.backend)
	f.qemu = addQEMUFlags(fs)
	fs.Var(f.sources, "source", "`NAME=PATH`: supply source NAME from PATH (an archive or an unpacked tree); repeatable")
	f.until = fs.String("until", "", h.until)
	f.from = fs.String("from", "", "start at this step: the steps before it do not run, their verified outputs come from the cache (run that far, or import), each re-hashed against its pin")
	f.work = fs.String("work", "", h.work)
	f.report = fs.String("report", "", h.report)
	f.noCache = fs.Bool("no-cache", false, "run every step even when the cache holds its outputs")
	f.unverified = fs.Bool("unverified", false, "go on into the chain's unverified section")
	f.verbose = fs.Bool("v", false, "log every step's details")
	return f
}

// load checks the parsed flags against the chain they name and returns
// the backend and the chain.
func (f *runFlags) load(cmd string, pos []string) (engine.Backend, *chain.Chain, error) {
	if len(pos) > 0 {
		return nil, nil, usagef("%s: unexpected argument %q", cmd, pos[0])
	}
	backend, err := newBackend(*f.backend)
	if err != nil {
		return nil, nil, usagef("%s: --%v", cmd, err)
	}
	if bh, ok := backend.(*builderhex0.Backend); ok {
		// The kernel's source is the backend's, not the chain's.
		if p, ok := f.sources[builderhex0.SourceName]; ok {
			bh.Source = p
			delete(f.sources, builderhex0.SourceName)
		}
	}
	c, err := chain.Load(*f.chain)
	if err != nil {
		return nil, nil, err
	}
	if *f.until != "" && c.StepIndex(*f.until) < 0 {
		return nil, nil, usagef("%s: --until %s: chain %s has no such step", cmd, *f.until, c.Name)
	}
	if *f.from != "" && c.StepIndex(*f.from) < 0 {
		return nil, nil, usagef("%s: --from %s: chain %s has no such step", cmd, *f.from, c.Name)
	}
	for n := range f.sources {
		if _, ok := c.Source(n); !ok {
			return nil, nil, usagef("%s: --source %s: chain %s has no source %s", cmd, n, c.Name, n)
		}
	}
	return backend, c, nil
}

// logger returns a logger at the level -v asks for (warnings, else info).
func (f *runFlags) logger() *logrus.Logger {
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	if *f.verbose {
		log.SetLevel(logrus.InfoLevel)
	}
	return log
}

// options are the engine options the shared flags set.
func (f *runFlags) options(c *chain.Chain, backend engine.Backend, log logrus.FieldLogger) engine.Options {
	return engine.Options{
		Chain: c, Backend: backend, Sources: f.sources, Until: *f.until, From: *f.from, WorkDir: *f.work,
		NoCache: *f.noCache, Unverified: *f.unverified, Log: log,
	}
}

// placedSteps counts the steps a run --from placed from the cache.
func placedSteps(rep *verify.Report) int {
	n := 0
	for _, s := range rep.Steps {
		if s.Status == verify.StatusPlaced {
			n++
		}
	}
	return n
}
