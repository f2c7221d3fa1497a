package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/sandbox"
	"github.com/bootchain/bootchain/verify"
)

const fixtureChain = "../../testdata/chains/fixture"

// buildBootchain builds the command into a temporary directory.
func buildBootchain(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go not on PATH, cannot build the binary to drive: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "bootchain")
	out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// term is a process driven through a pseudo-terminal.
type term struct {
	t    *testing.T
	cmd  *exec.Cmd
	f    *os.File
	mu   sync.Mutex
	buf  bytes.Buffer
	pos  int // what expect has consumed
	done chan struct{}
}

func startTerm(t *testing.T, cmd *exec.Cmd) *term {
	t.Helper()
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: 200})
	if err != nil {
		t.Fatalf("pty: %v", err)
	}
	tm := &term{t: t, cmd: cmd, f: f, done: make(chan struct{})}
	go func() {
		defer close(tm.done)
		b := make([]byte, 4096)
		for {
			n, err := f.Read(b)
			tm.mu.Lock()
			tm.buf.Write(b[:n])
			tm.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		f.Close()
	})
	return tm
}

// expect waits for s in the output after what earlier calls consumed.
func (tm *term) expect(s string) {
	tm.t.Helper()
	deadline := time.Now().Add(3 * time.Minute) // a hung binary, not a slow one
	for {
		tm.mu.Lock()
		out := tm.buf.String()
		tm.mu.Unlock()
		if i := strings.Index(out[tm.pos:], s); i >= 0 {
			tm.pos += i + len(s)
			return
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("no %q in the output; after the last match it is:\n%s", s, out[tm.pos:])
		}
		select {
		case <-tm.done:
			tm.mu.Lock()
			out = tm.buf.String()
			tm.mu.Unlock()
			if !strings.Contains(out[tm.pos:], s) {
				tm.t.Fatalf("the process ended without printing %q; after the last match:\n%s", s, out[tm.pos:])
			}
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (tm *term) send(line string) {
	tm.t.Helper()
	if _, err := tm.f.Write([]byte(line + "\n")); err != nil {
		tm.t.Fatalf("send %q: %v", line, err)
	}
}

// wait waits for the process to exit and returns its status.
func (tm *term) wait() int {
	tm.t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- tm.cmd.Wait() }()
	select {
	case err := <-ch:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			tm.t.Fatal(err)
		}
		return 0
	case <-time.After(2 * time.Minute):
		tm.cmd.Process.Kill()
		tm.t.Fatalf("bootchain step did not exit after quit")
	}
	return -1
}

func readReport(t *testing.T, p string) *verify.Report {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var r verify.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func reportSteps(r *verify.Report) []string {
	s := []string{}
	for _, st := range r.Steps {
		s = append(s, st.Name+"="+st.Status)
	}
	return s
}

// TestStepPTY drives `bootchain step` through a terminal as an auditor
// would: continue twice, show a text and a binary file, write one out,
// run to a later step, quit. The report lists exactly the steps run.
func TestStepPTY(t *testing.T) {
	if err := sandbox.Available(); err != nil {
		t.Skipf("sandbox not available here, so steps cannot run: %v", err)
	}
	bin := buildBootchain(t)
	dir := t.TempDir()
	report := filepath.Join(dir, "report.json")
	c, err := chain.Load(fixtureChain)
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(fixtureChain, "src/data.kaem"))
	if err != nil {
		t.Fatal(err)
	}
	firstLine, _, _ := strings.Cut(string(script), "\n")

	cmd := exec.Command(bin, "step", "--chain", fixtureChain, "--unverified", "--report", report)
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	tm := startTerm(t, cmd)
	tm.expect("== step 1/5 hex0")
	tm.expect("interpreter: seeds/hex0-seed  sha256 " + c.Steps[0].Outputs["bin/hex0"]) // the seed rebuilds itself
	tm.expect("before step 1/5 hex0: " + stepPrompt)                                    // it pauses before the step
	tm.send("s seeds/hex0-seed")                                                        // and shows any input
	tm.expect("seeds/hex0-seed: ")
	tm.expect(" bytes, binary, sha256 " + c.Steps[0].Outputs["bin/hex0"])
	tm.expect("before step 1/5 hex0: " + stepPrompt)
	tm.send("c")
	tm.expect("running...")
	tm.expect("-- step 1/5 hex0: ok")
	tm.expect("actual   " + c.Steps[0].Outputs["bin/hex0"] + "  ok, derived: yes")
	tm.expect("after step 1/5 hex0: " + stepPrompt)
	tm.send("c")
	tm.expect("== step 2/5 kaem")
	tm.expect("before step 2/5 kaem: " + stepPrompt)
	tm.send("c")
	tm.expect("-- step 2/5 kaem: ok")
	tm.expect("after step 2/5 kaem: " + stepPrompt)
	tm.send("c")
	tm.expect("== step 3/5 data")
	tm.expect("source fixture-src: 4 pinned files")
	tm.expect("(l fixture-src lists them)")
	tm.expect("before step 3/5 data: " + stepPrompt)
	tm.send("l fixture-src") // a source's files are listed, each with its hash
	tm.expect("4 files:")
	for _, p := range chain.SortedPaths(c.Sources[0].Files) {
		tm.expect(c.Sources[0].Files[p] + "  " + p + "  (source fixture-src)")
	}
	tm.expect("before step 3/5 data: " + stepPrompt)
	tm.send("log")
	tm.expect("step data has not run yet: no log")
	tm.expect(stepPrompt)
	tm.send("c")
	tm.expect("-- step 3/5 data: ok")
	tm.expect("   log file: ") // the whole log's path is named
	tm.expect("03-data.log (")
	tm.expect("log (last 3 lines):")
	tm.expect("after step 3/5 data: " + stepPrompt)
	tm.send("log") // and the whole log is shown
	tm.expect("03-data.log: ")
	tm.expect(" +> ./bin/hex0 ./hex/hello.hex0 ./out/hello")
	tm.expect(stepPrompt)
	tm.send("s data.kaem")
	tm.expect("data.kaem: " + itoa(len(script)) + " bytes, text, sha256 ")
	tm.expect(firstLine)
	tm.expect(stepPrompt)
	tm.send("s out/hello")
	tm.expect("out/hello: ")
	tm.expect(" bytes, binary, sha256 " + c.Steps[2].Outputs["out/hello"])
	tm.expect("00000000: 7f45 4c46 0101 01") // an i386 ELF header, as xxd shows it
	tm.expect(stepPrompt)
	hostCopy := filepath.Join(dir, "hello copy")
	tm.send(`w out/hello "` + hostCopy + `"`)
	tm.expect("wrote " + hostCopy)
	tm.expect(stepPrompt)
	tm.send("r nosuchstep")
	tm.expect(`has no step "nosuchstep"`)
	tm.expect(stepPrompt)
	tm.send("r hello")
	tm.expect("== step 4/5 hello")
	tm.expect("-- step 4/5 hello: ok")
	tm.expect("after step 4/5 hello: " + stepPrompt)
	tm.send("c")
	tm.expect("before step 5/5 again: " + stepPrompt)
	tm.send("q") // quit before a step: it does not run
	if code := tm.wait(); code != 0 {
		t.Fatalf("exit status %d, want 0; output:\n%s", code, tm.buf.String())
	}
	<-tm.done
	if strings.Contains(tm.buf.String(), "-- step 5/5") {
		t.Errorf("step again ran after quit")
	}

	if got, err := verify.File(hostCopy); err != nil || got != c.Steps[2].Outputs["out/hello"] {
		t.Errorf("written copy: sha256 %s (%v), want %s", got, err, c.Steps[2].Outputs["out/hello"])
	}
	rep := readReport(t, report)
	if got, want := reportSteps(rep), []string{"hex0=ok", "kaem=ok", "data=ok", "hello=ok"}; !reflect.DeepEqual(got, want) || !rep.OK {
		t.Errorf("report steps %v (ok %v), want %v (ok)", got, rep.OK, want)
	}
}

// TestStepQEMUPTY: the same through a QEMU guest, which waits between
// steps: run two steps, quit before the third; no QEMU is left behind.
func TestStepQEMUPTY(t *testing.T) {
	if err := qemuAvailable(); err != nil {
		t.Skipf("cannot boot a guest: %v", err)
	}
	bin := buildBootchain(t)
	dir := t.TempDir()
	tmp := filepath.Join(dir, "tmp") // QEMU's command line names its initramfs here
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "report.json")
	cmd := exec.Command(bin, "step", "--chain", fixtureChain, "--backend", "qemu", "--accel", "tcg", "--report", report)
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"), "TMPDIR="+tmp)
	tm := startTerm(t, cmd)
	tm.expect("before step 1/4 hex0: " + stepPrompt)
	tm.send("c")
	tm.expect("-- step 1/4 hex0: ok")
	tm.expect("after step 1/4 hex0: " + stepPrompt)
	if len(qemuProcs(tmp)) == 0 {
		t.Errorf("no QEMU running while the guest waits between steps")
	}
	tm.send("c")
	tm.expect("== step 2/4 kaem")
	tm.expect("before step 2/4 kaem: " + stepPrompt)
	tm.send("c")
	tm.expect("-- step 2/4 kaem: ok")
	tm.expect("after step 2/4 kaem: " + stepPrompt)
	tm.send("c")
	tm.expect("before step 3/4 data: " + stepPrompt) // the guest waits before data
	tm.send("s bin/hex0")
	tm.expect("00000000: 7f45 4c46")
	tm.expect(stepPrompt)
	tm.send("q") // quit before data: it never runs, and QEMU ends
	if code := tm.wait(); code != 0 {
		t.Fatalf("exit status %d, want 0; output:\n%s", code, tm.buf.String())
	}
	for deadline := time.Now().Add(10 * time.Second); len(qemuProcs(tmp)) > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("QEMU still running after quit: pid %v", qemuProcs(tmp))
		}
	}
	rep := readReport(t, report)
	if got, want := reportSteps(rep), []string{"hex0=ok", "kaem=ok"}; !reflect.DeepEqual(got, want) || rep.Backend != "qemu" {
		t.Errorf("report steps %v, backend %s; want %v, qemu", got, rep.Backend, want)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// runStep runs `bootchain step` in this process with stdin as input.
func runStep(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := cmdStep(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return out.String() + errb.String(), err
}

// TestStepNonInteractive covers what needs no terminal: end of input
// quits, --until runs without asking, every step runs even with a warm
// cache (--cache places cached outputs, labelled), `r` does not ask
// before the named step, and a failed step cannot be continued.
func TestStepNonInteractive(t *testing.T) {
	if err := sandbox.Available(); err != nil {
		t.Skipf("sandbox not available here, so steps cannot run: %v", err)
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("TMPDIR", t.TempDir()) // the tampered run's kept root goes here, not /dev/shm
	dir := t.TempDir()
	report := filepath.Join(dir, "r.json")

	// End of input at the first pause: nothing runs.
	out, err := runStep(t, "", "--chain", fixtureChain, "--report", report)
	if err != nil || !strings.Contains(out, "before step 1/4 hex0: "+stepPrompt+"\n(end of input: quitting)") || strings.Contains(out, "running...") {
		t.Fatalf("EOF: err %v, output:\n%s", err, out)
	}
	if got := reportSteps(readReport(t, report)); len(got) != 0 {
		t.Errorf("EOF: report steps %v, want none", got)
	}
	out, err = runStep(t, "c\n", "--chain", fixtureChain, "--report", report)
	if err != nil || !strings.Contains(out, "after step 1/4 hex0: "+stepPrompt+"\n(end of input: quitting)") {
		t.Fatalf("EOF after a step: err %v, output:\n%s", err, out)
	}
	if got := reportSteps(readReport(t, report)); !reflect.DeepEqual(got, []string{"hex0=ok"}) {
		t.Errorf("EOF after a step: report steps %v, want [hex0=ok]", got)
	}

	// The cache holds hex0 now: stepping still runs it.
	out, err = runStep(t, "", "--chain", fixtureChain, "--until", "kaem", "--report", report)
	if err != nil || strings.Contains(out, stepPrompt) {
		t.Fatalf("--until: err %v, output (must not prompt):\n%s", err, out)
	}
	if strings.Contains(out, "cached") || strings.Count(out, "running...") != 2 || strings.Count(out, "log file: ") != 2 {
		t.Errorf("--until with a warm cache: both steps must run, none placed from the cache:\n%s", out)
	}
	if got := reportSteps(readReport(t, report)); !reflect.DeepEqual(got, []string{"hex0=ok", "kaem=ok"}) {
		t.Errorf("--until: report steps %v, want [hex0=ok kaem=ok]", got)
	}
	if !strings.Contains(out, "chain fixture: 2 steps verified, 0 from the cache (--until kaem; not requested: 2 more with --until hello, 1 unverified with --unverified)\n") {
		t.Errorf("--until: no summary line counting 2 verified steps:\n%s", out)
	}
	// --cache places what the cache holds, labelled.
	out, err = runStep(t, "", "--chain", fixtureChain, "--until", "kaem", "--cache")
	if err != nil || !strings.Contains(out, "== step 1/2 hex0 (cached") || !strings.Contains(out, "-- step 1/2 hex0: ok (cached)") || !strings.Contains(out, "log: none (the step did not run") {
		t.Errorf("--cache: hex0 must be placed from the cache and labelled:\n%s", out)
	}

	// An unverified step is counted apart, never as verified.
	out, err = runStep(t, "", "--chain", fixtureChain, "--until", "again", "--unverified")
	if err != nil || !strings.Contains(out, "chain fixture: 4 steps verified, 1 unverified, 0 from the cache (--until again)\n") {
		t.Errorf("--until again --unverified: err %v, output:\n%s", err, out)
	}

	out, err = runStep(t, "r data\nq\n", "--chain", fixtureChain, "--report", report)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, stepPrompt); n != 2 || !strings.Contains(out, "before step 1/4 hex0: ") || !strings.Contains(out, "after step 3/4 data: ") {
		t.Errorf("r data: %d prompts, want 2 (before hex0 and after data):\n%s", n, out)
	}
	if got := reportSteps(readReport(t, report)); !reflect.DeepEqual(got, []string{"hex0=ok", "kaem=ok", "data=ok"}) {
		t.Errorf("r data: report steps %v", got)
	}

	out, err = runStep(t, "r hello\nc\nq\n", "--chain", "../../testdata/chains/fixture-tampered", "--report", report)
	var f failure
	if !errors.As(err, &f) || !strings.Contains(out, "-- step 3/4 data: FAILED") || !strings.Contains(out, "MISMATCH") ||
		!strings.Contains(out, "step data failed: the run cannot go on") {
		t.Errorf("tampered: err %v, output:\n%s", err, out)
	}
	if got := reportSteps(readReport(t, report)); !reflect.DeepEqual(got, []string{"hex0=ok", "kaem=ok", "data=failed"}) {
		t.Errorf("tampered: report steps %v", got)
	}
}

func TestParseStepCommand(t *testing.T) {
	for _, tc := range []struct {
		line string
		want stepCommand
		err  string
	}{
		{"", stepCommand{kind: cmdNone}, ""},
		{"   \t", stepCommand{kind: cmdNone}, ""},
		{"c", stepCommand{kind: cmdContinue}, ""},
		{"  continue  ", stepCommand{kind: cmdContinue}, ""},
		{"c now", stepCommand{}, "c: expected 0 argument(s), found 1"},
		{"r hello", stepCommand{kind: cmdRunTo, arg: "hello"}, ""},
		{"run M2-Planet", stepCommand{kind: cmdRunTo, arg: "M2-Planet"}, ""},
		{"r", stepCommand{}, "usage: r STEP"},
		{"s bin/hex0", stepCommand{kind: cmdShow, arg: "bin/hex0"}, ""},
		{"show 'a b'", stepCommand{kind: cmdShow, arg: "a b"}, ""},
		{`s "x86/bin/M2 x"`, stepCommand{kind: cmdShow, arg: "x86/bin/M2 x"}, ""},
		{"s a b", stepCommand{}, "s: expected 1 argument(s), found 2"},
		{"w bin/hex0 /tmp/hex0", stepCommand{kind: cmdWrite, arg: "bin/hex0", host: "/tmp/hex0"}, ""},
		{`write out/a "/tmp/my dir/a"`, stepCommand{kind: cmdWrite, arg: "out/a", host: "/tmp/my dir/a"}, ""},
		{"w bin/hex0", stepCommand{}, "usage: w FILE HOSTPATH"},
		{`w bin/hex0 "/tmp/x`, stepCommand{}, `unterminated " quote`},
		{"l", stepCommand{kind: cmdList}, ""},
		{"l fixture-src", stepCommand{kind: cmdList, arg: "fixture-src"}, ""},
		{"ls x86/bin", stepCommand{kind: cmdList, arg: "x86/bin"}, ""},
		{"l a b", stepCommand{}, "usage: l [WHAT]"},
		{"log", stepCommand{kind: cmdLog}, ""},
		{"log 3", stepCommand{}, "log: expected 0 argument(s), found 1"},
		{"q", stepCommand{kind: cmdQuit}, ""},
		{"quit\r", stepCommand{kind: cmdQuit}, ""},
		{"?", stepCommand{kind: cmdHelp}, ""},
		{"x", stepCommand{}, `unknown command "x"`},
		{"C", stepCommand{}, `unknown command "C"`},
	} {
		got, err := parseStepCommand(tc.line)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseStepCommand(%q) = %+v, %v; want error containing %q", tc.line, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseStepCommand(%q) = %+v, %v; want %+v", tc.line, got, err, tc.want)
		}
	}
}

// FuzzParseStepCommand: any line parses or is refused without a panic;
// the words of a line quoted back parse to the same words.
func FuzzParseStepCommand(f *testing.F) {
	for _, s := range []string{"c", "r hello", "s 'a b'", `w x "/tmp/y z"`, "q", `s "unterminated`, "  \t "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmd, err := parseStepCommand(line)
		if err == nil && (cmd.kind < cmdNone || cmd.kind > cmdLog) {
			t.Fatalf("parseStepCommand(%q): kind %d", line, cmd.kind)
		}
		words, err := splitWords(line)
		if err != nil {
			return
		}
		var quoted []string
		for _, w := range words {
			q := "'"
			if strings.Contains(w, "'") {
				q = `"`
			}
			if strings.Contains(w, q) {
				return // holds both quotes: cannot be quoted back
			}
			quoted = append(quoted, q+w+q)
		}
		again, err := splitWords(strings.Join(quoted, " "))
		if err != nil || !reflect.DeepEqual(again, words) && len(words) > 0 {
			t.Fatalf("splitWords(%q) = %q; quoted back %q, parsed %q, %v", line, words, quoted, again, err)
		}
	})
}

func TestHexDump(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want []string
	}{
		{nil, nil},
		{[]byte("ABC\x00"), []string{"00000000: 4142 4300                                ABC."}},
		{[]byte("0123456789abcdef\x7f\xff"), []string{
			"00000000: 3031 3233 3435 3637 3839 6162 6364 6566  0123456789abcdef",
			"00000010: 7fff                                     ..",
		}},
	} {
		if got := hexDump(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("hexDump(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// The same as xxd, when it is here to compare with.
	xxd, err := exec.LookPath("xxd")
	if err != nil {
		t.Logf("xxd not on PATH: compared with the table only")
		return
	}
	b := make([]byte, 300)
	for i := range b {
		b[i] = byte(i * 7)
	}
	cmd := exec.Command(xxd)
	cmd.Stdin = bytes.NewReader(b)
	want, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(hexDump(b), "\n") + "\n"; got != string(want) {
		t.Errorf("hexDump differs from xxd:\n%s\nxxd:\n%s", got, want)
	}
}

func TestIsText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"", true},
		{"# hex0\n31 c0\t# xor\r\n", true},
		{"héllo\n", true},
		{"\x7fELF", false},
		{"a\x00b", false},
		{"\xff\xfe", false},
		{"bell\a", false},
	} {
		if got := isText([]byte(tc.in)); got != tc.want {
			t.Errorf("isText(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestOpenInTree: show and write cannot reach outside the step's tree.
func TestOpenInTree(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/x"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(filepath.Dir(root), "outside-"+filepath.Base(root))
	if err := os.WriteFile(outside, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(outside)
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"bin/x", "/bin/x", "bin/../bin/x"} {
		f, err := openInTree(root, p)
		if err != nil {
			t.Errorf("openInTree(%q): %v", p, err)
			continue
		}
		f.Close()
	}
	for _, p := range []string{"../" + filepath.Base(outside), "link", "missing"} {
		if f, err := openInTree(root, p); err == nil {
			f.Close()
			t.Errorf("openInTree(%q) opened a file outside the tree or absent", p)
		}
	}
	// writeOut copies atomically into a directory or a file path.
	var out bytes.Buffer
	dst := t.TempDir()
	if err := writeOut(root, "bin/x", dst, &out); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "x")); err != nil || string(b) != "x" {
		t.Errorf("writeOut into a directory: %q, %v", b, err)
	}
	ents, _ := os.ReadDir(dst)
	if len(ents) != 1 {
		t.Errorf("writeOut left %d files in the directory, want 1 (no temporary file)", len(ents))
	}
}

// TestShowFilePages: a long file is shown a page at a time; "y" shows
// the next page, anything else (or the end of input) stops.
func TestShowFilePages(t *testing.T) {
	root := t.TempDir()
	var text strings.Builder
	for i := 0; i < pageLines+5; i++ {
		text.WriteString("line " + itoa(i) + "\n")
	}
	if err := os.WriteFile(filepath.Join(root, "f"), []byte(text.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		input    string
		lastLine int
	}{
		{"y\n", pageLines + 4},
		{"n\n", pageLines - 1},
		{"", pageLines - 1},
	} {
		var out bytes.Buffer
		s := &stepper{out: &out, lines: newLineReader(strings.NewReader(tc.input))}
		if err := s.showFile(context.Background(), root, "f"); err != nil {
			t.Fatal(err)
		}
		last := "line " + itoa(tc.lastLine) + "\n"
		next := "line " + itoa(tc.lastLine+1) + "\n"
		if !strings.Contains(out.String(), last) || strings.Contains(out.String(), next) || !strings.Contains(out.String(), "--more? (32 of 37 lines shown)") {
			t.Errorf("input %q: want lines up to %d and a --more prompt, got:\n%s", tc.input, tc.lastLine, out.String())
		}
	}
}

// TestWriteOutPlain: a file a step left setuid and writable by all leaves
// through "w" as a plain file: 0755, no setuid bit, the caller's.
func TestWriteOutPlain(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "suid")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o777|os.ModeSetuid|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := writeOut(root, "suid", dst, io.Discard); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dst, "suid"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o755 {
		t.Errorf("written file: mode %v, want -rwxr-xr-x", fi.Mode())
	}
}
