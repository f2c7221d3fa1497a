// Command bootchain runs a full-source bootstrap from a hand-written hex0
// seed and proves every byte on the way.
//
//	bootchain seeds [--arch x86|amd64] --out DIR
//	bootchain plan [--chain x86] [-v] | --list
//	bootchain run [--chain x86] [--backend sandbox] [--source NAME=PATH]... [--from STEP] [--until STEP]
//	              [--work DIR] [--report FILE] [--no-cache] [--unverified] [--seeds DIR] [--json] [-v]
//	bootchain step [--chain x86] [--backend sandbox|qemu] [--source NAME=PATH]... [--until STEP]
//	               [--report FILE] [--work DIR] [--cache]
//	bootchain derive [--chain x86] [--source NAME=PATH]... [--work DIR] [--report FILE]
//	bootchain verify [--chain x86] [--until STEP] [--unverified] [-v] DIR
//	bootchain initramfs [--chain x86] [--until STEP] [--gzip] --out FILE
//	bootchain fetch [--chain x86] [--from DIR]
//	bootchain image [--chain x86] [--until STEP] [--unverified] [--source NAME=PATH]...
//	                [--kernel FILE] [--stub FILE] [--power-off] --out FILE
//	bootchain image --write DEV [--yes] FILE
//	bootchain verify-image [--chain NAME ...] FILE
//	bootchain attest --key KEY --out FILE REPORT
//	bootchain compare [--allowed-signers FILE] [--quorum N] [--chain NAME] [--json] FILE...
//	bootchain export [--chain x86] --until STEP FILE
//	bootchain import [--chain x86] FILE
//
// Exit status: 0 when everything verified, 1 when a step or a check failed,
// 2 for a usage error, 130 when interrupted (SIGINT or SIGTERM). Errors are
// one line starting with "bootchain: ".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bootchain/bootchain/termsafe"
)

// commands are bootchain's commands, in the order usage lists them.
var commands = []struct{ name, what string }{
	{"seeds", "write the seeds (hex0-seed, kaem-optional-seed) into a directory"},
	{"plan", "show a chain's steps, sources and where a plain run stops (-v: every pin, key and cache state)"},
	{"run", "run a chain, verifying every step"},
	{"step", "run a chain one step at a time, showing and checking each (for auditors)"},
	{"verify", "check a tree left by any run against a chain's pins"},
	{"initramfs", "write the initramfs the qemu backend boots"},
	{"derive", "re-derive the stage0 tools' outputs on the host with the Go twins"},
	{"fetch", "download (or import with --from) a chain's sources into the cache"},
	{"image", "build a bootable USB image that runs a chain on bare metal, or write one to a stick"},
	{"verify-image", "list what an image boots: kernel, initramfs, command line, hashes"},
	{"attest", "sign a run's report as an in-toto attestation (SLSA provenance in a DSSE envelope)"},
	{"export", "write the verified outputs of the steps up to one step, from the cache, into an archive"},
	{"import", "check an archive from anyone against the chain's pins and add its steps to the cache"},
	{"compare", "verify attestations (and reports) of many parties and show, step by step, whether their outputs agree"},
}

// usageText is what `bootchain -h` prints.
func usageText() string {
	var b strings.Builder
	b.WriteString("usage: bootchain <command> [flags]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-12s %s\n", c.name, c.what)
	}
	b.WriteString("\nRun \"bootchain <command> -h\" for a command's flags.\n")
	return b.String()
}

// commandList is "seeds, plan, ... or verify-image".
func commandList() string {
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// usageError is an error in how bootchain was called (exit status 2).
// cmd, when set, is the command whose flags were wrong.
type usageError struct{ msg, cmd string }

func (e usageError) Error() string { return e.msg }

// usagef returns a usageError; a message starting "CMD: " is CMD's.
func usagef(format string, args ...any) error {
	e := usageError{msg: fmt.Sprintf(format, args...)}
	for _, c := range commands {
		if strings.HasPrefix(e.msg, c.name+": ") {
			e.cmd = c.name
		}
	}
	return e
}

// failure is an error already explained on stderr (exit status 1).
type failure struct{ err error }

func (f failure) Error() string { return f.err.Error() }

func main() {
	os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
}

// errInterrupted is the cause of the context's cancellation when a signal
// arrived.
var errInterrupted = errors.New("interrupted")

// exitInterrupted is the exit status after SIGINT or SIGTERM (128+SIGINT,
// as shells report it).
const exitInterrupted = 130

// interruptGrace is how long a command may take, after the first SIGINT or
// SIGTERM cancelled it, to stop and remove what it was writing before the
// process exits anyway. A second signal exits at once.
const interruptGrace = 10 * time.Second

// Main runs bootchain with args and returns the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var once sync.Once
	interrupted := func() {
		once.Do(func() { fmt.Fprintln(stderr, "bootchain: interrupted") })
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-sigs:
			cancel(errInterrupted)
		case <-done:
			return
		}
		select {
		case <-sigs:
		case <-time.After(interruptGrace):
		case <-done:
			return
		}
		interrupted()
		os.Exit(exitInterrupted)
	}()
	err := dispatch(ctx, args, stdout, stderr)
	if context.Cause(ctx) == errInterrupted {
		// Whatever the command returned, it was cut short: say so in one
		// line, not as "context canceled".
		interrupted()
		return exitInterrupted
	}
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "bootchain: %s\n", oneLine(ue.msg))
		if ue.cmd != "" {
			fmt.Fprintf(stderr, "Run \"bootchain %s -h\" for its flags.\n", ue.cmd)
		} else {
			fmt.Fprintf(stderr, "Run \"bootchain -h\" for usage.\n")
		}
		return 2
	}
	var f failure
	if errors.As(err, &f) {
		return 1
	}
	printError(stderr, err)
	return 1
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// printError writes err as "bootchain: ..." on one line; an error that
// comes with a list of what to do (it has more lines, each indented) keeps
// that list below.
func printError(w io.Writer, err error) {
	first, rest, _ := strings.Cut(err.Error(), "\n")
	fmt.Fprintf(w, "bootchain: %s\n", termsafe.Escape(first))
	if rest = strings.TrimRight(rest, "\n"); rest != "" {
		for _, l := range strings.Split(rest, "\n") {
			fmt.Fprintf(w, "%s\n", termsafe.Escape(l))
		}
	}
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText())
		return usagef("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usageText())
		return nil
	case "seeds":
		return cmdSeeds(rest, stdout, stderr)
	case "plan":
		return cmdPlan(rest, stdout, stderr)
	case "run":
		return cmdRun(ctx, rest, stdout, stderr)
	case "step":
		return cmdStep(ctx, rest, os.Stdin, stdout, stderr)
	case "verify":
		return cmdVerify(rest, stdout, stderr)
	case "fetch":
		return cmdFetch(ctx, rest, stdout, stderr)
	case "initramfs":
		return cmdInitramfs(ctx, rest, stdout, stderr)
	case "derive":
		return cmdDerive(ctx, rest, stdout, stderr)
	case "image":
		return cmdImage(ctx, rest, stdout, stderr)
	case "export":
		return cmdExport(ctx, rest, stdout, stderr)
	}
	// These print what another party wrote (an image, a report, an
	// attestation, an archive): every byte goes through termsafe.
	stdout, stderr = termsafe.Writer{W: stdout}, termsafe.Writer{W: stderr}
	switch cmd {
	case "verify-image":
		return cmdVerifyImage(ctx, rest, stdout, stderr)
	case "attest":
		return cmdAttest(ctx, rest, stdout, stderr)
	case "import":
		return cmdImport(ctx, rest, stdout, stderr)
	case "compare":
		return cmdCompare(ctx, rest, stdout, stderr)
	}
	return usagef("unknown command %q: expected %s", cmd, commandList())
}

// newFlags returns a flag set for a subcommand whose errors are returned,
// not printed and exited on.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: bootchain %s %s\n", name, synopsis)
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parse parses args, allowing flags after positional arguments
// (`bootchain verify DIR --chain x86`), and returns the positionals.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	// The usage is for -h; a bad flag gets its one-line error alone.
	printUsage := fs.Usage
	fs.Usage = func() {}
	defer func() { fs.Usage = printUsage }()
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printUsage()
				return nil, err
			}
			return nil, usageError{msg: fmt.Sprintf("%s: %v", fs.Name(), err), cmd: fs.Name()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// sourceFlags collects repeated --source NAME=PATH.
type sourceFlags map[string]string

func (s sourceFlags) String() string {
	var parts []string
	for k, v := range s {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

func (s sourceFlags) Set(v string) error {
	name, path, ok := strings.Cut(v, "=")
	if !ok || name == "" || path == "" {
		return fmt.Errorf("expected NAME=PATH, found %q", v)
	}
	if _, dup := s[name]; dup {
		return fmt.Errorf("source %s given twice", name)
	}
	s[name] = path
	return nil
}
