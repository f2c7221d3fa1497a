package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/sirupsen/logrus"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/engine"
	"github.com/bootchain/bootchain/termsafe"
	"github.com/bootchain/bootchain/verify"
)

// stepPrompt ends what `bootchain step` asks before and after each step
// ("before step 2/5 kaem: " or "after step 2/5 kaem: " comes first).
const stepPrompt = "[c]ontinue, [r]un to STEP, [l]ist [WHAT], [s]how FILE, [w]rite FILE HOSTPATH, log, [q]uit> "

// pageLines is how many lines `show` prints before asking for more.
const pageLines = 32

func cmdStep(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("step", "[--chain x86] [--backend sandbox|qemu] [--kernel FILE] [--memory MIB] [--cpus N] [--console] [--idle-timeout D] [--source NAME=PATH]... [--until STEP] [--report FILE] [--work DIR] [--cache] [--unverified] [-v]", stderr)
	rf := addRunFlags(fs, runHelp{
		backend: "the `BACKEND` where steps run: sandbox (Linux namespaces) or qemu (one guest boot, paused between steps)",
		until:   "run to this `STEP` without asking, then stop (non-interactive)",
		work:    "leave the tree (upstream layout) and the step logs in this `DIR`",
		report:  "write the JSON report of the steps run to this `FILE`",
	})
	useCache := fs.Bool("cache", false, "place a step's verified outputs from the cache when it holds them, instead of running the step")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	backend, c, err := rf.load("step", pos)
	if err != nil {
		return err
	}
	until, reportPath := rf.until, rf.report
	if *reportPath != "" {
		if err := verify.CheckReportPath(*reportPath); err != nil {
			return err
		}
	}
	log := rf.logger()
	log.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true})
	log.SetOutput(stderr)
	if err := rf.qemu.apply(fs, backend, stderr); err != nil {
		return err
	}

	s := &stepper{c: c, out: stdout, lines: newLineReader(stdin), interactive: *until == "", work: *rf.work}
	if s.interactive {
		fmt.Fprintf(stdout, "chain %s, backend %s: stepping; before and after each step: %s\n", c.Name, backend.Name(), strings.TrimSuffix(stepPrompt, "> "))
	}
	opts := rf.options(c, backend, log)
	// An auditor sees each step run, not its outputs placed from the
	// cache, unless asked to.
	opts.NoCache = opts.NoCache || !*useCache
	opts.BeforeStep, opts.AfterStep = s.before, s.after
	rep, runErr := engine.Run(ctx, opts)
	if rep != nil && *reportPath != "" {
		if err := verify.WriteReport(*reportPath, stepsRun(rep)); err != nil {
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
		printError(stderr, runErr)
		return failure{runErr}
	}
	fmt.Fprintf(stdout, "chain %s: %s\n", c.Name, runSummary(c, rep))
	return nil
}

// stepsRun returns rep less the steps that did not run: what a person
// stepping through a chain saw.
func stepsRun(rep *verify.Report) *verify.Report {
	r := *rep
	r.Steps = []verify.StepReport{}
	for _, s := range rep.Steps {
		if s.Status != verify.StatusSkipped && s.Status != verify.StatusNotRequested {
			r.Steps = append(r.Steps, s)
		}
	}
	return &r
}

// stepper shows each step to the person stepping through the chain and
// asks what to do, before the step runs and after it.
type stepper struct {
	c           *chain.Chain
	out         io.Writer
	lines       *lineReader
	interactive bool
	runTo       string // the step `r STEP` runs to; empty when stepping
	work        string // --work, where the logs are kept at the end
}

func (s *stepper) before(ctx context.Context, v engine.StepView) error {
	w := s.out
	label := ""
	if v.Cached {
		label = " (cached: its verified outputs come from the store, it does not run)"
	}
	fmt.Fprintf(w, "\n== step %d/%d %s%s\n", v.Index, v.Total, v.Step.Name, label)
	if v.Step.Describe != "" {
		fmt.Fprintf(w, "   %s\n", v.Step.Describe)
	}
	fmt.Fprintf(w, "   command:     %s\n", strings.Join(v.Step.Argv, " "))
	if v.Step.Dir != "" && v.Step.Dir != "/" {
		fmt.Fprintf(w, "   directory:   %s\n", v.Step.Dir)
	}
	if len(v.Step.Env) > 0 {
		fmt.Fprintf(w, "   environment: %s\n", strings.Join(v.Step.Env, " "))
	}
	sum := v.InterpreterSHA256
	if sum == "" {
		sum = "(not in the step's tree)"
	}
	fmt.Fprintf(w, "   interpreter: %s  sha256 %s\n", v.Interpreter, sum)
	fmt.Fprintf(w, "   inputs:\n")
	sources := map[string]int{}
	for _, in := range v.Inputs {
		if name, ok := strings.CutPrefix(in.Origin, "source "); ok {
			sources[name]++
			continue
		}
		fmt.Fprintf(w, "     %s  %s  (%s)\n", in.SHA256, in.Path, in.Origin)
	}
	for _, name := range slices.Sorted(maps.Keys(sources)) {
		fmt.Fprintf(w, "     source %s: %d pinned files, each checked against its sha256 (l %s lists them)\n", name, sources[name], name)
	}
	if s.interactive && s.runTo == "" {
		act, err := s.prompt(ctx, v)
		if err != nil {
			return err
		}
		if act == engine.Stop {
			return engine.ErrStopBefore
		}
	}
	if !v.Cached {
		fmt.Fprintf(w, "   running...\n")
	}
	return nil
}

func (s *stepper) after(ctx context.Context, v engine.StepView) (engine.StepAction, error) {
	s.show(v)
	failed := v.Err != nil
	if !failed && s.runTo != "" && s.runTo != v.Step.Name {
		return engine.Continue, nil
	}
	s.runTo = ""
	if !s.interactive {
		return engine.Continue, nil
	}
	return s.prompt(ctx, v)
}

// prompt asks what to do before (v.Done false) or after a step until the
// answer is to go on or to stop.
func (s *stepper) prompt(ctx context.Context, v engine.StepView) (engine.StepAction, error) {
	failed := v.Err != nil
	when := "before"
	if v.Done {
		when = "after"
	}
	last := v.Index == v.Total
	for {
		fmt.Fprintf(s.out, "%s step %d/%d %s: %s", when, v.Index, v.Total, v.Step.Name, stepPrompt)
		line, err := s.lines.read(ctx)
		if errors.Is(err, io.EOF) {
			fmt.Fprintln(s.out, "\n(end of input: quitting)")
			return engine.Stop, nil
		}
		if err != nil {
			return engine.Stop, fmt.Errorf("interrupted at the prompt %s step %s: %w", when, v.Step.Name, err)
		}
		cmd, err := parseStepCommand(line)
		if err != nil {
			fmt.Fprintf(s.out, "%v\n", err)
			continue
		}
		switch cmd.kind {
		case cmdNone:
		case cmdHelp:
			fmt.Fprint(s.out, stepHelp)
		case cmdQuit:
			return engine.Stop, nil
		case cmdContinue, cmdRunTo:
			if failed {
				fmt.Fprintf(s.out, "step %s failed: the run cannot go on; list, show or write its files, read its log, or quit\n", v.Step.Name)
				continue
			}
			if cmd.kind == cmdContinue {
				if last && v.Done {
					fmt.Fprintln(s.out, "that was the run's last step")
				}
				return engine.Continue, nil
			}
			i := s.c.StepIndex(cmd.arg)
			switch {
			case i < 0:
				fmt.Fprintf(s.out, "chain %s has no step %q\n", s.c.Name, cmd.arg)
			case i+1 < v.Index || v.Done && i+1 == v.Index:
				fmt.Fprintf(s.out, "step %s has already run; name a later step\n", cmd.arg)
			case i+1 > v.Total:
				fmt.Fprintf(s.out, "step %s is past the end of this run (it ends at step %d of %d)\n", cmd.arg, v.Total, len(s.c.Steps))
			default:
				s.runTo = cmd.arg
				return engine.Continue, nil
			}
		case cmdList:
			s.list(ctx, v, cmd.arg)
		case cmdShow:
			if err := s.showFile(ctx, v.Root, cmd.arg); err != nil {
				fmt.Fprintf(s.out, "show %s: %s\n", cmd.arg, termsafe.Escape(err.Error()))
			}
		case cmdWrite:
			if err := writeOut(v.Root, cmd.arg, cmd.host, s.out); err != nil {
				fmt.Fprintf(s.out, "write %s: %s\n", cmd.arg, termsafe.Escape(err.Error()))
			}
		case cmdLog:
			switch {
			case !v.Done:
				fmt.Fprintf(s.out, "step %s has not run yet: no log\n", v.Step.Name)
			case v.Cached:
				fmt.Fprintf(s.out, "step %s did not run (its outputs came from the cache): no log\n", v.Step.Name)
			case v.LogFile == "":
				fmt.Fprintf(s.out, "step %s left no log\n", v.Step.Name)
			default:
				if err := s.showPath(ctx, v.LogFile); err != nil {
					fmt.Fprintf(s.out, "log: %v\n", err)
				}
			}
		}
	}
}

const stepHelp = `  c, continue        before a step: run it; after it: go on to the next
  r, run STEP        run up to STEP without asking, then ask again after it
  l, list [WHAT]     list the step's files with sha256 and origin: all, a
                     source's (l SOURCE), a step's (l STEP), the seeds (l seed),
                     or those under a directory (l x86/bin)
  s, show FILE       show FILE of this step's tree: text, or a hex dump
  w, write FILE HOST copy FILE of this step's tree to HOST (a file or a directory)
  log                show the step's whole log (after it ran)
  q, quit            stop here and write the report of the steps run
FILE is a path in the step's tree (inputs and, after the step, its outputs),
e.g. bin/hex0.
`

// list prints the files of the step's tree with their hashes and origins:
// all of them, or those of one source, step or the seeds, or those under a
// directory, a page at a time.
func (s *stepper) list(ctx context.Context, v engine.StepView, what string) {
	type file struct{ path, sha256, origin string }
	var files []file
	for _, in := range v.Inputs {
		files = append(files, file{in.Path, in.SHA256, in.Origin})
	}
	if v.Done {
		for _, o := range v.Report.Outputs {
			if o.SHA256 != "" {
				files = append(files, file{o.Path, o.SHA256, "output of step " + v.Step.Name})
			}
		}
	}
	var lines []string
	dir := strings.Trim(path.Clean("/"+what), "/") + "/"
	for _, f := range files {
		origin := strings.TrimPrefix(strings.TrimPrefix(f.origin, "source "), "step ")
		if what != "" && what != origin && f.origin != "output of step "+what && !strings.HasPrefix(f.path, dir) {
			continue
		}
		lines = append(lines, fmt.Sprintf("%s  %s  (%s)", f.sha256, termsafe.Escape(f.path), f.origin))
	}
	if len(lines) == 0 {
		fmt.Fprintf(s.out, "no file of step %s's tree is %q's or under it\n", v.Step.Name, what)
		return
	}
	fmt.Fprintf(s.out, "%s:\n", plural(len(lines), "file"))
	s.page(ctx, lines)
}

// show prints what a step did: its outputs against their pins, and where
// its log is with the end of it.
func (s *stepper) show(v engine.StepView) {
	w := s.out
	status := "ok"
	switch {
	case v.Err != nil:
		status = "FAILED"
	case v.Report.Status == verify.StatusUnverified:
		status = "unverified (ran; no result is claimed)"
	}
	if v.Cached {
		status += " (cached)"
	}
	fmt.Fprintf(w, "-- step %d/%d %s: %s\n", v.Index, v.Total, v.Step.Name, status)
	if v.Err != nil {
		fmt.Fprintf(w, "   error: %s\n", termsafe.Escape(oneLine(v.Err.Error())))
	}
	if len(v.Report.Outputs) > 0 {
		fmt.Fprintf(w, "   outputs:\n")
	}
	for _, o := range v.Report.Outputs {
		verdict := "ok"
		if !o.OK {
			verdict = "MISMATCH"
			if o.Problem != "" {
				verdict = "FAILED: " + o.Problem
			}
		}
		if o.Derived {
			verdict += ", derived: yes"
		}
		actual := o.SHA256
		if actual == "" {
			actual = "(none)"
		}
		fmt.Fprintf(w, "     %s\n       expected %s\n       actual   %s  %s\n", termsafe.Escape(o.Path), o.Expected, actual, verdict)
	}
	for _, u := range v.Report.Undeclared {
		fmt.Fprintf(w, "     undeclared: %s\n", termsafe.Escape(u))
	}
	if v.Cached {
		fmt.Fprintf(w, "   log: none (the step did not run: its outputs came from the cache)\n")
		return
	}
	if v.LogFile != "" {
		where := "removed when this session ends; --work DIR keeps the logs"
		if s.work != "" {
			where = "kept in " + filepath.Join(s.work, ".bootchain", "logs") + " when this session ends"
		}
		size := ""
		if fi, err := os.Stat(v.LogFile); err == nil {
			size = fmt.Sprintf("%d bytes; ", fi.Size())
		}
		fmt.Fprintf(w, "   log file: %s (%s`log` shows it; %s)\n", v.LogFile, size, where)
	}
	if len(v.LogTail) == 0 {
		fmt.Fprintf(w, "   log: empty\n")
		return
	}
	fmt.Fprintf(w, "   log (last %d lines):\n", len(v.LogTail))
	for _, l := range v.LogTail {
		fmt.Fprintf(w, "     | %s\n", termsafe.Escape(l))
	}
}

// openInTree opens the file p (slash-separated, relative to the step's
// tree) without leaving the tree.
func openInTree(root, p string) (*os.File, error) {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		p = "."
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.Open(filepath.FromSlash(p))
}

// showFile prints the file p of the tree: text as it is, anything else as
// a hex dump, a page at a time; a directory as its listing.
func (s *stepper) showFile(ctx context.Context, root, p string) error {
	f, err := openInTree(root, p)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.IsDir() {
		ents, err := f.ReadDir(-1)
		if err != nil {
			return err
		}
		slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
		for _, e := range ents {
			name := e.Name()
			if e.IsDir() {
				name += "/"
			}
			fmt.Fprintf(s.out, "  %s\n", termsafe.Escape(name))
		}
		return nil
	}
	return s.showContent(ctx, p, f)
}

// showPath prints the host file p (a step's log) as show does.
func (s *stepper) showPath(ctx context.Context, p string) error {
	f, err := verify.OpenRegular(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return s.showContent(ctx, p, f)
}

// showContent prints what r holds, named name: text as it is, anything
// else as a hex dump, a page at a time.
func (s *stepper) showContent(ctx context.Context, name string, r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	p := termsafe.Escape(name)
	sum := sha256.Sum256(b)
	var lines []string
	if isText(b) {
		fmt.Fprintf(s.out, "%s: %d bytes, text, sha256 %s\n", p, len(b), hex.EncodeToString(sum[:]))
		lines = strings.SplitAfter(string(b), "\n")
		if lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		for i, l := range lines {
			lines[i] = strings.TrimRight(l, "\n")
		}
	} else {
		fmt.Fprintf(s.out, "%s: %d bytes, binary, sha256 %s\n", p, len(b), hex.EncodeToString(sum[:]))
		lines = hexDump(b)
	}
	s.page(ctx, lines)
	return nil
}

// page prints lines a page at a time, asking before each further page.
func (s *stepper) page(ctx context.Context, lines []string) {
	for i := 0; i < len(lines); i += pageLines {
		if i > 0 {
			fmt.Fprintf(s.out, "--more? (%d of %d lines shown) [y/N] ", i, len(lines))
			ans, err := s.lines.read(ctx)
			if err != nil || !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ans)), "y") {
				fmt.Fprintln(s.out)
				return
			}
		}
		for _, l := range lines[i:min(i+pageLines, len(lines))] {
			fmt.Fprintf(s.out, "%s\n", termsafe.Escape(l))
		}
	}
}

// isText says whether b reads as text: UTF-8 without control bytes other
// than tab, newline, carriage return and form feed.
func isText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' || c == 0x7f {
			return false
		}
	}
	return true
}

// hexDump returns b as xxd prints it: offset, sixteen bytes in groups of
// two, and the bytes as ASCII.
func hexDump(b []byte) []string {
	var lines []string
	for off := 0; off < len(b); off += 16 {
		row := b[off:min(off+16, len(b))]
		var sb strings.Builder
		fmt.Fprintf(&sb, "%08x: ", off)
		for i := 0; i < 16; i++ {
			if i < len(row) {
				fmt.Fprintf(&sb, "%02x", row[i])
			} else {
				sb.WriteString("  ")
			}
			if i%2 == 1 {
				sb.WriteByte(' ')
			}
		}
		sb.WriteByte(' ')
		for _, c := range row {
			if c < 0x20 || c >= 0x7f {
				c = '.'
			}
			sb.WriteByte(c)
		}
		lines = append(lines, sb.String())
	}
	return lines
}

// writeOut copies the file p of the tree to the host path host (into it,
// when host is a directory), atomically.
func writeOut(root, p, host string, out io.Writer) error {
	in, err := openInTree(root, p)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file")
	}
	if hi, err := os.Stat(host); err == nil && hi.IsDir() {
		host = filepath.Join(host, path.Base(p))
	}
	tmp, err := os.CreateTemp(filepath.Dir(host), "."+filepath.Base(host)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing to remove
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), in)
	if err == nil {
		err = tmp.Chmod(engine.PlainMode(fi.Mode()))
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), host)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", host, err)
	}
	if d, err := os.Open(filepath.Dir(host)); err == nil {
		d.Sync()
		d.Close()
	}
	fmt.Fprintf(out, "wrote %s: %d bytes, sha256 %s\n", host, n, hex.EncodeToString(h.Sum(nil)))
	return nil
}

// stepCommandKind is what a line typed at the step prompt asks for.
type stepCommandKind int

const (
	cmdNone stepCommandKind = iota // an empty line
	cmdContinue
	cmdRunTo
	cmdShow
	cmdWrite
	cmdQuit
	cmdHelp
	cmdList
	cmdLog
)

// stepCommand is a parsed prompt line.
type stepCommand struct {
	kind stepCommandKind
	arg  string // STEP or FILE
	host string // HOSTPATH for write
}

// parseStepCommand parses a line typed at the step prompt. Words are
// separated by blanks; a word may be quoted with '...' or "..." to hold
// blanks.
func parseStepCommand(line string) (stepCommand, error) {
	words, err := splitWords(line)
	if err != nil {
		return stepCommand{}, err
	}
	if len(words) == 0 {
		return stepCommand{kind: cmdNone}, nil
	}
	type spec struct {
		kind  stepCommandKind
		args  int
		usage string
	}
	var sp spec
	switch words[0] {
	case "c", "continue":
		sp = spec{cmdContinue, 0, "c"}
	case "r", "run":
		sp = spec{cmdRunTo, 1, "r STEP"}
	case "s", "show":
		sp = spec{cmdShow, 1, "s FILE"}
	case "w", "write":
		sp = spec{cmdWrite, 2, "w FILE HOSTPATH"}
	case "l", "list", "ls":
		sp = spec{cmdList, -1, "l [WHAT]"}
	case "log":
		sp = spec{cmdLog, 0, "log"}
	case "q", "quit", "exit":
		sp = spec{cmdQuit, 0, "q"}
	case "h", "help", "?":
		sp = spec{cmdHelp, 0, "h"}
	default:
		return stepCommand{}, fmt.Errorf("unknown command %q: expected c, r STEP, l [WHAT], s FILE, w FILE HOSTPATH, log, q or h", words[0])
	}
	if sp.args < 0 { // one optional argument
		if len(words) > 2 {
			return stepCommand{}, fmt.Errorf("%s: expected at most 1 argument, found %d (usage: %s)", words[0], len(words)-1, sp.usage)
		}
		cmd := stepCommand{kind: sp.kind}
		if len(words) == 2 {
			cmd.arg = words[1]
		}
		return cmd, nil
	}
	if got := len(words) - 1; got != sp.args {
		return stepCommand{}, fmt.Errorf("%s: expected %d argument(s), found %d (usage: %s)", words[0], sp.args, got, sp.usage)
	}
	cmd := stepCommand{kind: sp.kind}
	if sp.args >= 1 {
		cmd.arg = words[1]
	}
	if sp.args == 2 {
		cmd.host = words[2]
	}
	return cmd, nil
}

// splitWords splits line on blanks, honouring '...' and "..." quotes.
func splitWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\r' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// lineReader reads lines from a reader on its own goroutine, so that a
// prompt can give up when the context is done.
type lineReader struct {
	r     io.Reader
	lines chan string
	err   error // set before lines is closed
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: r}
}

func (l *lineReader) read(ctx context.Context) (string, error) {
	if l.lines == nil {
		l.lines = make(chan string)
		go func() {
			br := bufio.NewReader(l.r)
			for {
				s, err := br.ReadString('\n')
				if s != "" {
					l.lines <- strings.TrimRight(s, "\r\n")
				}
				if err != nil {
					l.err = err
					close(l.lines)
					return
				}
			}
		}()
	}
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case s, ok := <-l.lines:
		if !ok {
			if l.err == nil || errors.Is(l.err, io.EOF) {
				return "", io.EOF
			}
			return "", l.err
		}
		return s, nil
	}
}
