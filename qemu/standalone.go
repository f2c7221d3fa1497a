package qemu

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/bootchain/bootchain/hex0"
	"github.com/bootchain/bootchain/initramfs"
)

// A Standalone guest runs its steps with no host to report to, on a machine
// booted from a USB stick, and checks every output itself. Its root holds
// the seeds, the files the steps need, our tools' commented hex0 sources
// (init, catm, sha256check, indir) and text files the host wrote: every
// line the guest will show is prepared on the host, because the guest has
// no program that formats text. The kaem seed runs as the kernel's init and
// reads kaem.x86 (kaem.amd64 for the AMD64 seed, see Script):
//
//	hex0-seed bootchain/init.hex0 bootchain/init     (the same for catm,
//	...                                               sha256check, indir)
//	bootchain/init ACTION bootchain/tee /dev/ttyS0 /dev/tty0 KAEM \
//	    bootchain/steps.kaem bootchain/report.kaem
//
// init makes the FIFO bootchain/tee and runs the kaem seed on steps.kaem,
// then on report.kaem, whatever the first did; everything either prints, and
// every message written into bootchain/tee, goes to both the serial console
// and the screen. Then it halts or powers off.
//
// steps.kaem checks the tools against the hashes the host computed with the
// Go hex0 assembler, then for each step: it points report.kaem at the report
// for a failure of this step's command, prints "step N/T NAME: started", runs
// the command through indir, in the step's working directory and with
// exactly its environment (as the sandbox runs it), and for
// each pinned output, in path order, points report.kaem at the report for a
// mismatch of that file and runs
//
//	sha256check bootchain/p/N-K bootchain/a/N-K
//
// whose list p/N-K holds the pin's line, "<sha256>  <path>\n", and whose OUT
// a/N-K receives the actual hash in the same format. The kaem seed stops at
// the first command that fails, so when it stops, report.kaem names exactly
// what failed. After the last step steps.kaem concatenates every a/N-K in the
// order of (path, pin) over all steps, the order of Chain.Digest's lines,
// and runs sha256check once more on that file against the expected digest:
// when every output matched, the text it hashes is byte for byte the text
// Chain.Digest hashes. Steps that are not run (CheckStep.NotRun) contribute
// their pin lines as the host wrote them, and the summary says so.
//
// report.kaem is one catm command that writes a prepared summary into
// bootchain/tee, with the actual hash files spliced in where the guest's
// own results belong: the found hash of a mismatching file, the digest
// computed in the guest.

// End is what a Standalone guest does after its summary.
type End string

// What a Standalone guest can do at the end.
const (
	// EndHalt stops the processors and leaves the screen as it is: on a
	// machine, a person reads the result and switches it off.
	EndHalt End = "halt"
	// EndPowerOff switches the machine off: under QEMU, QEMU exits, which
	// is what CI wants. On a machine the result vanishes with the screen.
	EndPowerOff End = "poweroff"
	// EndExit makes init exit (status 0 when every script succeeded), for
	// tests on a host. Booted, the kaem seed then exits and the kernel
	// panics.
	EndExit End = "exit"
)

// CheckStep is one step of a Standalone guest.
type CheckStep struct {
	Name string
	Argv []string // argv[0] is a path in the root (relative paths start at Dir)
	// Dir is the working directory, a path in the root; "" or "/" is the root.
	Dir string
	// Env is the step's whole environment, as NAME=value; empty: none.
	Env []string
	// Pins maps each output (a path relative to the root) to its expected
	// SHA-256 in lowercase hex.
	Pins map[string]string
	// NotRun, when not empty, says why the step is not run (e.g. "in the
	// unverified section"). Its pins still enter the digest, as given.
	NotRun string
	// Unverified marks a step of the chain's unverified section: its pins
	// (if any) are checked all the same, but it is never counted or shown
	// as verified.
	Unverified bool
}

// Standalone is a guest that runs Steps and checks every output against its
// pin by itself, with no host: what a USB stick boots on bare metal. Its
// output goes to the serial console and to the screen; at the end it shows
// a summary with every step's status and the digest of all outputs computed
// in the guest, then halts or powers off (End).
type Standalone struct {
	Kaem  string            // path in the root of the kaem seed: the kernel's init
	Hex0  string            // path in the root of the hex0 seed
	Files []initramfs.Entry // the rest of the root, seeds included
	// Script is the boot script's path in the root: the one the kaem seed
	// reads with no argument, ScriptFor(arch); default kaem.x86.
	Script string
	Title  string // one line saying what runs, e.g. "chain fixture: offline fixture"
	Steps  []CheckStep
	End    End // default EndHalt
	// Consoles are where init copies everything the guest prints; default
	// /dev/ttyS0 and /dev/tty0 (the first serial port and the screen).
	Consoles [2]string
}

// Paths of a Standalone guest's root (relative to it).
const (
	saTee      = GuestDir + "/tee"         // the FIFO init copies to the consoles
	saSteps    = GuestDir + "/steps.kaem"  // the steps and their checks
	saReport   = GuestDir + "/report.kaem" // the summary to show, rewritten as the steps go
	saToolList = GuestDir + "/tools.sha256"
	saAll      = GuestDir + "/all" // every output's actual line, in digest order
	saDigest   = GuestDir + "/digest.sha256"
	saInit     = GuestDir + "/init"
	saSHA      = GuestDir + "/sha256check"
	saIndir    = GuestDir + "/indir"
	saMessages = GuestDir + "/m" // lines shown as the steps go
	saReports  = GuestDir + "/r" // report scripts
	saTexts    = GuestDir + "/s" // summary texts
	saPins     = GuestDir + "/p" // one-line pin lists
	saActual   = GuestDir + "/a" // actual hash lines
	saTTY0     = "dev/tty0"
)

// DefaultConsoles are the files a Standalone guest's init writes to: the
// first serial port and the screen (the foreground virtual terminal).
var DefaultConsoles = [2]string{"/dev/ttyS0", "/dev/tty0"}

// saPin is one output pin of a step, numbered as the guest's files are.
type saPin struct {
	step, k      int // step index (0-based), pin number (1-based, path order)
	path, sha256 string
}

func (p saPin) list() string   { return fmt.Sprintf("%s/%d-%d", saPins, p.step+1, p.k) }
func (p saPin) actual() string { return fmt.Sprintf("%s/%d-%d", saActual, p.step+1, p.k) }
func (p saPin) line() string   { return p.sha256 + "  " + p.path + "\n" }

// pins returns the pins of step i in path order.
func (s Standalone) pins(i int) []saPin {
	st := s.Steps[i]
	paths := make([]string, 0, len(st.Pins))
	for p := range st.Pins {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	ps := make([]saPin, len(paths))
	for k, p := range paths {
		ps[k] = saPin{step: i, k: k + 1, path: p, sha256: st.Pins[p]}
	}
	return ps
}

// digestOrder returns every pin of every step in the order of the digest's
// lines: by path, then by hash.
func (s Standalone) digestOrder() []saPin {
	var all []saPin
	for i := range s.Steps {
		all = append(all, s.pins(i)...)
	}
	sort.SliceStable(all, func(a, b int) bool {
		if all[a].path != all[b].path {
			return all[a].path < all[b].path
		}
		return all[a].sha256 < all[b].sha256
	})
	return all
}

// Digest returns the digest the guest expects to compute: the SHA-256 over
// one "<sha256>  <path>\n" line per pin of every step, sorted by path (then
// hash), the definition of chain.Chain.Digest.
func (s Standalone) Digest() string {
	h := sha256.New()
	for _, p := range s.digestOrder() {
		h.Write([]byte(p.line()))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// DigestGroups splits a digest into groups of 8 hex digits, the form the
// guest's summary shows it in, one group a line, for comparing by eye.
func DigestGroups(d string) []string {
	var g []string
	for len(d) > 8 {
		g = append(g, d[:8])
		d = d[8:]
	}
	return append(g, d)
}

func (s Standalone) end() End {
	if s.End == "" {
		return EndHalt
	}
	return s.End
}

func (s Standalone) consoles() [2]string {
	if s.Consoles == [2]string{} {
		return DefaultConsoles
	}
	return s.Consoles
}

// run returns the indexes of the steps that run.
func (s Standalone) run() []int {
	var r []int
	for i, st := range s.Steps {
		if st.NotRun == "" {
			r = append(r, i)
		}
	}
	return r
}

func (s Standalone) check() error {
	have := map[string]bool{}
	for _, e := range s.Files {
		if e == nil {
			continue
		}
		p, err := initramfs.Clean(e.EntryPath())
		if err != nil {
			return fmt.Errorf("standalone guest: %w", err)
		}
		if p == GuestDir || strings.HasPrefix(p, GuestDir+"/") || p == s.script() {
			return fmt.Errorf("standalone guest: file %s: the guest's own files live there, expected another path", p)
		}
		have[p] = true
	}
	for _, x := range []struct{ what, p string }{{"kaem seed", s.Kaem}, {"hex0 seed", s.Hex0}} {
		p, err := initramfs.Clean(x.p)
		if err != nil {
			return fmt.Errorf("standalone guest: %s: %w", x.what, err)
		}
		if !have[p] {
			return fmt.Errorf("standalone guest: %s %s is not among the root's files", x.what, x.p)
		}
		if err := checkToken(x.what+" path", p); err != nil {
			return fmt.Errorf("standalone guest: %w", err)
		}
	}
	for _, c := range s.consoles() {
		if err := checkToken("console", c); err != nil {
			return fmt.Errorf("standalone guest: %w", err)
		}
	}
	switch s.end() {
	case EndHalt, EndPowerOff, EndExit:
	default:
		return fmt.Errorf("standalone guest: end %q, expected halt, poweroff or exit", s.End)
	}
	if strings.ContainsFunc(s.Title, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return fmt.Errorf("standalone guest: title %q contains control characters", s.Title)
	}
	names := map[string]bool{}
	for i, st := range s.Steps {
		if st.Name == "" || strings.ContainsFunc(st.Name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return fmt.Errorf("standalone guest: step %d: name %q, expected a non-empty name without blanks or control characters", i+1, st.Name)
		}
		if names[st.Name] {
			return fmt.Errorf("standalone guest: step %s: listed twice", st.Name)
		}
		names[st.Name] = true
		if strings.ContainsFunc(st.NotRun, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return fmt.Errorf("standalone guest: step %s: reason %q contains control characters", st.Name, st.NotRun)
		}
		if st.NotRun == "" && len(st.Argv) == 0 {
			return fmt.Errorf("standalone guest: step %s: empty command", st.Name)
		}
		for _, a := range st.Argv {
			if err := checkToken("argument", a); err != nil {
				return fmt.Errorf("standalone guest: step %s: %w", st.Name, err)
			}
		}
		for _, kv := range st.Env {
			if !envRE.MatchString(kv) || strings.ContainsAny(kv, kaemSpecial) {
				return fmt.Errorf("standalone guest: step %s: environment %q, expected NAME=value with a letter or _ first, then letters, digits or _, and a value without blanks, quotes, '#', '\\' or control characters", st.Name, kv)
			}
		}
		if st.Dir != "" && st.Dir != "/" {
			if _, err := initramfs.Clean(strings.TrimPrefix(st.Dir, "/")); err != nil {
				return fmt.Errorf("standalone guest: step %s: dir: %w", st.Name, err)
			}
			if err := checkToken("dir", st.Dir); err != nil {
				return fmt.Errorf("standalone guest: step %s: %w", st.Name, err)
			}
		}
		for p, h := range st.Pins {
			c, err := initramfs.Clean(p)
			if err != nil || c != p {
				return fmt.Errorf("standalone guest: step %s: output %q, expected a clean path relative to the root", st.Name, p)
			}
			if err := checkToken("output path", p); err != nil {
				return fmt.Errorf("standalone guest: step %s: %w", st.Name, err)
			}
			if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
				return fmt.Errorf("standalone guest: step %s: output %s: pin %q, expected 64 lowercase hex digits", st.Name, p, h)
			}
		}
	}
	return nil
}

// saText builds the guest's prepared texts.
type saText struct {
	s    Standalone
	run  []int       // indexes of the steps that run
	pos  map[int]int // step index -> its number among the steps that run (1-based)
	pins [][]saPin
}

func newSAText(s Standalone) *saText {
	t := &saText{s: s, run: s.run(), pos: map[int]int{}}
	for n, i := range t.run {
		t.pos[i] = n + 1
	}
	for i := range s.Steps {
		t.pins = append(t.pins, s.pins(i))
	}
	return t
}

// label is a step as the progress lines name it: "step 3/4 data".
func (t *saText) label(i int) string {
	if n, ok := t.pos[i]; ok {
		return fmt.Sprintf("step %d/%d %s", n, len(t.run), t.s.Steps[i].Name)
	}
	return fmt.Sprintf("step %s", t.s.Steps[i].Name)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

func (t *saText) okLine(i int) string {
	n := len(t.pins[i])
	if t.s.Steps[i].Unverified {
		if n == 0 {
			return t.label(i) + ": ran, unverified (nothing pinned)\n"
		}
		return fmt.Sprintf("%s: ran, unverified (%s, which proves nothing yet)\n", t.label(i), plural(n, "output matches its pin", "outputs match their pins"))
	}
	if n == 0 {
		return t.label(i) + ": ok (no outputs pinned)\n"
	}
	return fmt.Sprintf("%s: ok, %s\n", t.label(i), plural(n, "output matches its pin", "outputs match their pins"))
}

// verdictLine counts the steps that ran: verified ones, and the
// unverified ones apart.
func (t *saText) verdictLine() string {
	verified, unverified := 0, 0
	for _, i := range t.run {
		if t.s.Steps[i].Unverified {
			unverified++
		} else {
			verified++
		}
	}
	all := ""
	if len(t.run) == len(t.s.Steps) && unverified == 0 {
		all = "all "
	}
	line := fmt.Sprintf("%s%s verified: every output was hashed on this machine and matches its pin.\n", all, plural(verified, "step", "steps"))
	if unverified > 0 {
		line += fmt.Sprintf("%s of the unverified section ran as well: not verified.\n", plural(unverified, "step", "steps"))
	}
	return line
}

// Failure points, for the summary: where steps.kaem stopped.
const (
	failTools   = -1 // checking the tools, before the first step
	failCommand = 0  // the step's command (k = 0); k > 0: its k-th pin
)

const rule = "================================================================\n"

// head is the start of every summary: the title and each step's status,
// given that step failed at pin k (failCommand for its command; failed < 0:
// no step failed, or the tools did).
func (t *saText) head(failed, k int) string {
	var b strings.Builder
	b.WriteString("\n" + rule)
	b.WriteString("bootchain summary: " + t.s.Title + "\n")
	b.WriteString(rule)
	reached := failed < 0 && k != failTools // every step ran
	for _, i := range t.run {
		switch {
		case reached || i < failed:
			b.WriteString(t.okLine(i))
		case i == failed && k == failCommand:
			b.WriteString(t.label(i) + ": failed: its command did not exit 0 (see its lines above)\n")
		case i == failed:
			b.WriteString(fmt.Sprintf("%s: failed: %s is not the pinned file\n", t.label(i), t.pins[i][k-1].path))
		default:
			b.WriteString(t.label(i) + ": not run\n")
		}
	}
	for i, st := range t.s.Steps {
		if st.NotRun != "" {
			fmt.Fprintf(&b, "%s: not run (%s); its pins enter the digest unchecked\n", t.label(i), st.NotRun)
		}
	}
	return b.String()
}

// The verdict line is coloured on the screen (and in a terminal reading
// the serial port): bright green for OK, bright red for FAILED.
const (
	colourOK     = "\x1b[1;32m"
	colourFailed = "\x1b[1;31m"
	colourBright = "\x1b[1;37m"
	colourReset  = "\x1b[0m"
)

func (t *saText) ending(ok bool) string {
	verdict := colourFailed + "bootchain: FAILED."
	if ok {
		verdict = colourOK + "bootchain: OK."
	}
	switch t.s.end() {
	case EndPowerOff:
		return verdict + " The machine powers off now." + colourReset + "\n"
	case EndExit:
		return verdict + colourReset + "\n"
	}
	return verdict + " The machine halts now: switch it off once you have read this." + colourReset + "\n"
}

func (t *saText) notComputed() string {
	return "chain digest: not computed, since a step failed.\n"
}

// digestBlock is the expected digest in groups, shown when the guest's own
// digest equals it.
func (t *saText) digestBlock() string {
	var b strings.Builder
	b.WriteString("which is, in groups of 8 hex digits (bootchain plan prints the same 64 on one line):\n")
	for n, g := range DigestGroups(t.s.Digest()) {
		fmt.Fprintf(&b, "    %d   %s%s%s\n", n+1, colourBright, g, colourReset)
	}
	return b.String()
}

// saFile is a file of the guest root that the host writes.
type saFile struct {
	path, data string
}

// files returns steps.kaem, the initial report.kaem and the prepared files
// they use.
func (t *saText) files() ([]saFile, error) {
	s := t.s
	var files []saFile
	add := func(p, data string) { files = append(files, saFile{p, data}) }
	report := func(name string, parts ...string) string {
		p := fmt.Sprintf("%s/%s.kaem", saReports, name)
		add(p, "/"+catmPath+" /"+saTee+" /"+strings.Join(parts, " /")+"\n")
		return p
	}
	var b strings.Builder
	line := func(words ...string) { b.WriteString(strings.Join(words, " ") + "\n") }
	say := func(name, text string) {
		p := saMessages + "/" + name
		add(p, text)
		line("/"+catmPath, "/"+saTee, "/"+p)
	}
	point := func(reportScript string) { line("/"+catmPath, "/"+saReport, "/"+reportScript) }

	b.WriteString("# bootchain standalone guest: the steps, each output checked by sha256check\n")
	b.WriteString("# against its pin. Generated by the host (package qemu). The kaem seed stops\n")
	b.WriteString("# at the first command that fails; report.kaem then says what it was.\n")

	// Before the first step: the tools.
	tools, err := toolPins()
	if err != nil {
		return nil, err
	}
	add(saToolList, tools)
	add(saTexts+"/tools", t.head(-1, failTools)+
		"FAILED before the first step: the tools the hex0 seed assembled here (init, catm,\n"+
		"sha256check, indir) are not the bytes the host assembled from the same sources.\n"+
		t.notComputed()+t.ending(false))
	initial := report("tools", saTexts+"/tools")
	say("begin", fmt.Sprintf("bootchain: %s\n", s.Title)+
		fmt.Sprintf("bootchain: %s to run; every output is hashed here and compared with its pin\n", plural(len(t.run), "step", "steps"))+
		fmt.Sprintf("bootchain: chain digest expected: %s\n", s.Digest())+
		"bootchain: our tools, as the hex0 seed assembled them from their commented sources:\n")
	line("/"+saSHA, "/"+saToolList, "/"+saActual+"/tools")

	for _, i := range t.run {
		st := s.Steps[i]
		n := i + 1
		b.WriteString(fmt.Sprintf("# %s\n", t.label(i)))
		add(fmt.Sprintf("%s/%d", saTexts, n), t.head(i, failCommand)+t.notComputed()+t.ending(false))
		point(report(fmt.Sprint(n), fmt.Sprintf("%s/%d", saTexts, n)))
		say(fmt.Sprintf("%d.start", n), t.label(i)+": started\n")
		dir := st.Dir
		if dir == "" {
			dir = "/"
		}
		words := append([]string{"/" + saIndir, dir}, st.Env...)
		line(append(append(words, "--"), st.Argv...)...)
		for _, p := range t.pins[i] {
			text := t.head(i, p.k) +
				fmt.Sprintf("MISMATCH in step %s: %s is missing, unreadable, or not the pinned bytes:\n", st.Name, p.path) +
				"  expected  " + p.line() +
				"  found     "
			stem := fmt.Sprintf("%s/%d-%d", saTexts, n, p.k)
			add(stem, text)
			add(stem+".end", "\n"+t.notComputed()+t.ending(false))
			add(p.list(), p.line())
			point(report(fmt.Sprintf("%d-%d", n, p.k), stem, p.actual(), stem+".end"))
			line("/"+saSHA, "/"+p.list(), "/"+p.actual())
		}
		say(fmt.Sprintf("%d.ok", n), t.okLine(i))
	}

	// The digest, over every actual line in the digest's order.
	b.WriteString("# the chain digest, computed here\n")
	order := t.s.digestOrder()
	for _, p := range order {
		if s.Steps[p.step].NotRun != "" {
			add(p.actual(), p.line())
		}
	}
	add(saDigest, s.Digest()+"  /"+saAll+"\n")
	add(saTexts+"/digest", t.head(-1, 0)+
		"chain digest MISMATCH: every step matched its pins, yet the list of their hashes\n"+
		"does not hash to the expected digest:\n"+
		"  expected  "+s.Digest()+"  /"+saAll+"\n"+
		"  found     ")
	add(saTexts+"/digest.end", t.ending(false))
	point(report("digest", saTexts+"/digest", saActual+"/digest", saTexts+"/digest.end"))
	say("digest", "bootchain: the chain digest: SHA-256 over every output's \"<sha256>  <path>\" line, in path order\n")
	// The kaem seed takes at most 4095 words a command: join in parts.
	const chunk = 1000
	var parts []string
	for c := 0; c < len(order); c += chunk {
		part := fmt.Sprintf("%s.%d", saAll, c/chunk+1)
		words := []string{"/" + catmPath, "/" + part}
		for _, p := range order[c:min(c+chunk, len(order))] {
			words = append(words, "/"+p.actual())
		}
		line(words...)
		parts = append(parts, "/"+part)
	}
	line(append([]string{"/" + catmPath, "/" + saAll}, parts...)...)
	line("/"+saSHA, "/"+saDigest, "/"+saActual+"/digest")

	ok := t.head(-1, 0) + t.verdictLine()
	ok += "chain digest, computed on this machine:\n  found     "
	add(saTexts+"/ok", ok)
	add(saTexts+"/ok.end", t.digestBlock()+t.ending(true))
	point(report("ok", saTexts+"/ok", saActual+"/digest", saTexts+"/ok.end"))

	files = append(files, saFile{saSteps, b.String()}, saFile{saReport, files[indexOf(files, initial)].data})
	return files, nil
}

func indexOf(fs []saFile, p string) int {
	for i, f := range fs {
		if f.path == p {
			return i
		}
	}
	panic("qemu: standalone: no file " + p)
}

// saTools are the guest's own programs: name, source.
var saTools = []struct {
	path string
	src  *[]byte
}{
	{saInit, &InitSource},
	{catmPath, &CatmSource},
	{saSHA, &SHA256CheckSource},
	{saIndir, &IndirSource},
}

// toolPins returns the list sha256check checks the tools against: the
// SHA-256 of each source as the Go hex0 assembler assembles it.
func toolPins() (string, error) {
	var b strings.Builder
	for _, tool := range saTools {
		bin, err := hex0.Assemble(bytes.NewReader(*tool.src))
		if err != nil {
			return "", fmt.Errorf("standalone guest: %s.hex0: %w", tool.path, err)
		}
		sum := sha256.Sum256(bin)
		fmt.Fprintf(&b, "%s  /%s\n", hex.EncodeToString(sum[:]), tool.path)
	}
	return b.String(), nil
}

// BootScript returns the boot script (kaem.x86, or Script), which the kaem
// seed runs as the kernel's init: it assembles the tools with the hex0 seed
// and starts init.
func (s Standalone) BootScript() ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return []byte(s.bootScript()), nil
}

func (s Standalone) script() string {
	if s.Script == "" {
		return DefaultScript
	}
	return s.Script
}

func (s Standalone) bootScript() string {
	hex0Seed, _ := initramfs.Clean(s.Hex0)
	kaem, _ := initramfs.Clean(s.Kaem)
	var b strings.Builder
	b.WriteString("# bootchain standalone guest, generated by the host (package qemu).\n")
	b.WriteString("# The hex0 seed assembles our tools from their commented sources; then\n")
	b.WriteString("# init runs the steps and the report, showing both on every console.\n")
	for _, tool := range saTools {
		fmt.Fprintf(&b, "/%s /%s.hex0 /%s\n", hex0Seed, tool.path, tool.path)
	}
	c := s.consoles()
	fmt.Fprintf(&b, "/%s %s /%s %s %s /%s /%s /%s\n", saInit, s.end(), saTee, c[0], c[1], kaem, saSteps, saReport)
	return b.String()
}

// Entries returns the whole guest root: Files, the device nodes (those of
// DeviceNodes and /dev/tty0), the tools' sources, the directories the
// steps write to, the boot script (kaem.x86, or Script) and every prepared file. Written
// with initramfs.Write and booted with KernelArgs, it runs the steps.
func (s Standalone) Entries() ([]initramfs.Entry, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	files, err := newSAText(s).files()
	if err != nil {
		return nil, err
	}
	e := append([]initramfs.Entry(nil), s.Files...)
	have := map[string]bool{}
	for _, x := range s.Files {
		p, _ := initramfs.Clean(x.EntryPath())
		have[p] = true
	}
	for _, d := range initramfs.DeviceNodes() {
		p, _ := initramfs.Clean(d.EntryPath())
		if !have[p] {
			e = append(e, d)
			have[p] = true
		}
	}
	if !have[saTTY0] {
		e = append(e, initramfs.CharDev{Path: saTTY0, Mode: 0o620, Major: 4, Minor: 0})
		have[saTTY0] = true
	}
	// The directories of every output and working directory exist before
	// the steps run: the stage0 tools cannot make directories.
	dirs := map[string]bool{}
	for _, st := range s.Steps {
		for p := range st.Pins {
			for d := path.Dir(p); d != "."; d = path.Dir(d) {
				dirs[d] = true
			}
		}
		if d := strings.Trim(st.Dir, "/"); d != "" {
			for ; d != "."; d = path.Dir(d) {
				dirs[d] = true
			}
		}
	}
	for _, d := range sortedKeys(dirs) {
		if !have[d] {
			e = append(e, initramfs.Dir{Path: d})
		}
	}
	// sha256check writes the actual hashes there; the host may write none.
	e = append(e, initramfs.Dir{Path: saActual})
	e = append(e, initramfs.File{Path: s.script(), Mode: 0o644, Data: []byte(s.bootScript())})
	for _, tool := range saTools {
		e = append(e, initramfs.File{Path: tool.path + ".hex0", Mode: 0o644, Data: *tool.src})
	}
	for _, f := range files {
		e = append(e, initramfs.File{Path: f.path, Mode: 0o644, Data: []byte(f.data)})
	}
	return e, nil
}

func sortedKeys(m map[string]bool) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// KernelArgs returns the kernel command line that boots the guest's
// initramfs: both consoles (the serial port last, so that /dev/console and
// the kernel's own messages reach it at 115200 baud), the kaem seed as
// init, and no screen blanking. The steps' environments are in the scripts.
func (s Standalone) KernelArgs() string {
	kaem, _ := initramfs.Clean(s.Kaem)
	return strings.Join([]string{"console=tty0", "console=ttyS0,115200", "rdinit=/" + kaem, "consoleblank=0", "quiet"}, " ")
}
