package hex0

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Tests of what only the amd64 seeds' sources document: the hex0 seed's exit
// status on I/O errors, kaem's parsing corners, its exit statuses, its 1 MiB
// script limit, and waiting for its own child when it runs as pid 1. What
// every architecture shares is tested in seeds_test.go.

// TestAMD64HexSeedErrors runs the amd64 hex0 seed where its input or output
// fails: it must exit non-zero, except on an empty input, where it never
// writes and so never notices an output it could not create (documented).
func TestAMD64HexSeedErrors(t *testing.T) {
	requireNative(t, "amd64")
	dir := t.TempDir()
	hexSeed, _ := writeSeeds(t, "amd64", dir)
	for name, text := range map[string]string{"in.hex0": "48 69 # Hi\n", "empty.hex0": "# no bytes\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, in, out string
		wantZero      bool
	}{
		{"missing input", "no-such.hex0", "out1", false},
		{"input is a directory", ".", "out2", false},
		{"output in a missing directory", "in.hex0", "no/such/dir/out", false},
		{"empty input, output in a missing directory", "empty.hex0", "no/such/dir/out", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, dir, nil, hexSeed, tt.in, tt.out)
			if (r.status == 0) != tt.wantZero {
				t.Errorf("%s %s %s: exit status %d, want zero: %v", HexSeed, tt.in, tt.out, r.status, tt.wantZero)
			}
		})
	}
	t.Run("existing output is truncated", func(t *testing.T) {
		out := filepath.Join(dir, "old")
		if err := os.WriteFile(out, []byte("a much longer old content"), 0o644); err != nil {
			t.Fatal(err)
		}
		if r := run(t, dir, nil, hexSeed, "in.hex0", "old"); r.status != 0 {
			t.Fatalf("exit status %d", r.status)
		}
		if got, _ := os.ReadFile(out); string(got) != "Hi" {
			t.Errorf("output %q, want %q", got, "Hi")
		}
	})
}

// TestAMD64KaemParsing checks the corners of the script syntax the amd64
// kaem seed documents, each through the echo and the arguments a command
// really receives (args.sh logs them as [a][b]...).
func TestAMD64KaemParsing(t *testing.T) {
	tests := []struct {
		name, script, wantEcho, wantLog string
	}{
		{"backslash escapes", "/bin/sh ./args.sh a\\ b c\\#d \\\\e \\x\n",
			" +> /bin/sh ./args.sh a b c#d \\e x\n", "[a b][c#d][\\e][x]\n"},
		{"escaped blank starts a word", "/bin/sh ./args.sh \\ x \\\ty\n",
			" +> /bin/sh ./args.sh  x \ty\n", "[ x][\ty]\n"},
		{"hash inside a word", "/bin/sh ./args.sh a#b #c d\n",
			" +> /bin/sh ./args.sh a#b\n", "[a#b]\n"},
		{"continuation joins words", "/bin/sh ./args.sh ab\\\ncd \\\n  ef\n",
			" +> /bin/sh ./args.sh abcd ef\n", "[abcd][ef]\n"},
		{"continuation does not extend a comment", "# comment \\\n/bin/sh ./args.sh run\n",
			" +> /bin/sh ./args.sh run\n", "[run]\n"},
		{"comment after a continuation", "/bin/sh ./args.sh x \\\n# y\n/bin/sh ./args.sh z\n",
			" +> /bin/sh ./args.sh x\n +> /bin/sh ./args.sh z\n", "[x]\n[z]\n"},
		{"carriage return is a word byte", "/bin/sh ./args.sh a\r\n",
			" +> /bin/sh ./args.sh a\r\n", "[a\r]\n"},
		{"no final line feed", "/bin/sh ./args.sh last",
			" +> /bin/sh ./args.sh last\n", "[last]\n"},
		{"backslash at the very end is dropped", "/bin/sh ./args.sh end\\",
			" +> /bin/sh ./args.sh end\n", "[end]\n"},
		{"trailing blanks", "/bin/sh ./args.sh t \t \n",
			" +> /bin/sh ./args.sh t\n", "[t]\n"},
		{"empty script", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireNative(t, "amd64")
			dir, kaem := kaemDir(t, "amd64", map[string]string{"test.kaem": tt.script})
			r := run(t, dir, nil, kaem, "test.kaem")
			if r.status != 0 {
				t.Errorf("exit status %d, want 0; stderr:\n%s", r.status, r.stderr)
			}
			if r.stdout != tt.wantEcho {
				t.Errorf("stdout %q, want %q", r.stdout, tt.wantEcho)
			}
			if log, _ := os.ReadFile(filepath.Join(dir, "log")); string(log) != tt.wantLog {
				t.Errorf("log %q, want %q", log, tt.wantLog)
			}
		})
	}
}

// TestAMD64KaemStatus checks the exit statuses the amd64 kaem seed
// documents, and that nothing runs after a failure.
func TestAMD64KaemStatus(t *testing.T) {
	tests := []struct {
		name, script string
		want         int    // exit status; -1: killed by a signal
		wantLog      string // what args.sh logged
	}{
		{"exit 3", "./fail3.sh\n/bin/sh ./args.sh after\n", 3, ""},
		{"killed", "/bin/sh ./kill.sh\n/bin/sh ./args.sh after\n", 128 + 9, ""},
		{"missing program", "./no-such-program\n/bin/sh ./args.sh after\n", 127, ""},
		{"not executable", "./one.hex0\n/bin/sh ./args.sh after\n", 127, ""},
		{"script over 1 MiB", limitScript(1<<20 + 1), 1, ""},
		{"script of exactly 1 MiB", limitScript(1 << 20), -1, ""},
		{"script of 1 MiB - 2 bytes", limitScript(1<<20 - 2), 0, "[first]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireNative(t, "amd64")
			dir, kaem := kaemDir(t, "amd64", map[string]string{"test.kaem": tt.script})
			r := run(t, dir, nil, kaem, "test.kaem")
			if r.status != tt.want {
				t.Errorf("exit status %d, want %d", r.status, tt.want)
			}
			if log, _ := os.ReadFile(filepath.Join(dir, "log")); string(log) != tt.wantLog {
				t.Errorf("log %q, want %q", log, tt.wantLog)
			}
		})
	}
	t.Run("missing script", func(t *testing.T) {
		requireNative(t, "amd64")
		dir, kaem := kaemDir(t, "amd64", nil)
		if r := run(t, dir, nil, kaem); r.status != 1 || r.stdout != "" {
			t.Errorf("no kaem.amd64: exit status %d, stdout %q; want 1 and nothing", r.status, r.stdout)
		}
	})
}

// TestAMD64KaemPID1 runs the amd64 kaem seed as pid 1 of a new PID namespace,
// where the orphans of its commands become its children: one that exits
// with status 5 while kaem waits for the next command must not be taken for
// that command.
func TestAMD64KaemPID1(t *testing.T) {
	requireNative(t, "amd64")
	script := "/bin/sh -c (sleep\\ 0.1;exit\\ 5)&\n" +
		"/bin/sh -c sleep\\ 0.5\n" +
		"/bin/sh ./args.sh done\n"
	dir, kaem := kaemDir(t, "amd64", map[string]string{"test.kaem": script})
	cmd := exec.CommandContext(t.Context(), kaem, "test.kaem")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	out, err := cmd.Output()
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) {
		t.Skipf("cannot create a PID namespace here: %v", err)
	}
	if err != nil {
		t.Fatalf("kaem as pid 1: %v\nstdout:\n%s", err, out)
	}
	if log, _ := os.ReadFile(filepath.Join(dir, "log")); string(log) != "[done]\n" {
		t.Errorf("log %q, want %q", log, "[done]\n")
	}
}

// limitScript returns a script of n bytes: a command, then a comment that
// fills the rest. kaem must read it whole before it runs anything.
func limitScript(n int) string {
	cmd := "/bin/sh ./args.sh first\n"
	return cmd + strings.Repeat("#", n-len(cmd))
}
