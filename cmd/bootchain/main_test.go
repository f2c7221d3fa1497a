package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/engine"
	"github.com/bootchain/bootchain/qemu"
	"github.com/bootchain/bootchain/sandbox"
	"github.com/bootchain/bootchain/verify"
)

func TestMain(m *testing.M) {
	// The signal tests run bootchain as a child process of their own.
	if os.Getenv("BOOTCHAIN_TEST_MAIN") == "1" {
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	testscript.Main(m, map[string]func(){
		"bootchain": func() { os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the CLI stories in testdata/script, one file each.
func TestScripts(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	sandboxErr := sandbox.Available()
	qemuErr := qemuAvailable()
	_, emulatorErr := qemu.FindQEMU("")
	imageErr := imageToolsAvailable()
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			e.Setenv("ROOT", root)
			e.Setenv("FIXTURE", filepath.Join(root, "testdata/chains/fixture"))
			e.Setenv("TAMPERED", filepath.Join(root, "testdata/chains/fixture-tampered"))
			e.Setenv("XDG_CACHE_HOME", filepath.Join(e.WorkDir, "cache"))
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "sandbox":
				return sandboxErr == nil, nil
			case "qemu":
				return qemuErr == nil, nil
			case "emulator": // QEMU without a Linux kernel image
				return emulatorErr == nil, nil
			case "image":
				return imageErr == nil, nil
			}
			return false, errors.New("unknown condition " + cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"qemuproc": cmdQEMUProc,
			// exitcode N PROG ARGS... runs PROG and requires exit status N
			// (its output is kept for stdout/stderr checks).
			"exitcode": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 2 {
					ts.Fatalf("usage: exitcode N PROG [ARGS...]")
				}
				want, err := strconv.Atoi(args[0])
				if err != nil {
					ts.Fatalf("exitcode: %v", err)
				}
				err = ts.Exec(args[1], args[2:]...)
				got := 0
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					got = ee.ExitCode()
				} else if err != nil {
					ts.Fatalf("exitcode: %v", err)
				}
				if got != want {
					ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
				}
			},
			// sha256 FILE HEX requires FILE's SHA-256 to be HEX.
			"sha256": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: sha256 FILE HEX")
				}
				got, err := verify.File(ts.MkAbs(args[0]))
				if err != nil {
					ts.Fatalf("sha256: %v", err)
				}
				if (got == args[1]) == neg {
					ts.Fatalf("%s: sha256 is %s, want %s%s", args[0], got, map[bool]string{true: "not ", false: ""}[neg], args[1])
				}
			},
			// truncate FILE OUT writes the first half of FILE to OUT.
			"truncate": func(ts *testscript.TestScript, neg bool, args []string) {
				b, err := os.ReadFile(ts.MkAbs(args[0]))
				if err != nil {
					ts.Fatalf("truncate: %v", err)
				}
				if err := os.WriteFile(ts.MkAbs(args[1]), b[:len(b)/2], 0o644); err != nil {
					ts.Fatalf("truncate: %v", err)
				}
			},
			"editpayload": cmdEditPayload,
			// flipbyte FILE flips the lowest bit of FILE's first byte.
			"flipbyte": func(ts *testscript.TestScript, neg bool, args []string) {
				p := ts.MkAbs(args[0])
				b, err := os.ReadFile(p)
				if err != nil || len(b) == 0 {
					ts.Fatalf("flipbyte: %v", err)
				}
				b[0] ^= 1
				if err := os.WriteFile(p, b, 0o644); err != nil {
					ts.Fatalf("flipbyte: %v", err)
				}
			},
		},
	})
}

// TestOutputEscaped: file names and messages from a step or a source reach
// the terminal escaped, in errors, the run's list of outputs and the
// stepper's display of a step.
func TestOutputEscaped(t *testing.T) {
	const esc = "\x1b]0;pwned\x07\x1b[2J"
	rep := &verify.Report{Steps: []verify.StepReport{{Name: "s", Status: verify.StatusOK,
		Outputs:    []verify.Result{{Path: "out/" + esc, SHA256: "00", OK: true}},
		Undeclared: []string{"out/stray" + esc}}}}
	var b bytes.Buffer
	printError(&b, errors.New("step s: out/"+esc+": sha256 is 00\nsecond line "+esc))
	writeRunOutputs(&b, rep, "")
	s := &stepper{out: &b}
	s.show(engine.StepView{Step: chain.Step{Name: "s"}, Done: true, Report: rep.Steps[0], Err: errors.New(esc), LogTail: []string{esc}})
	if strings.ContainsAny(b.String(), "\x1b\x07") {
		t.Errorf("control characters reach the terminal:\n%q", b.String())
	}
	if n := strings.Count(b.String(), `\x1b]0;pwned\x07\x1b[2J`); n < 6 {
		t.Errorf("escaped text shown %d times, want 6:\n%s", n, b.String())
	}
}
