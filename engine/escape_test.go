package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bootchain/bootchain/chain"
)

// escBackend is a step whose output and file names hold terminal escape
// sequences: it clears the screen, sets the window title and rings the
// bell in its log, leaves a file named with ESC sequences, and fails its
// pins (step hello), so every display of a run gets some.
type escBackend struct{}

const hostile = "\x1b[2J\x1b]0;pwned\x07\x9b31m\u009b1m\u202e"

func (escBackend) Name() string { return "sandbox" }

func (escBackend) RunStep(ctx context.Context, st chain.Step, root string, log io.Writer) error {
	if err := (SandboxBackend{}).RunStep(ctx, st, root, log); err != nil {
		return err
	}
	if st.Name == "hello" {
		io.WriteString(log, "before "+hostile+" after\rover\n")
		os.WriteFile(filepath.Join(root, "out", "name"+hostile), []byte("x"), 0o644)
		os.WriteFile(filepath.Join(root, "out/hello.txt"), []byte(hostile), 0o644)
	}
	return nil
}

// TestNoEscapesReachTheTerminal: the failure details and both progress
// forms show a step's escape sequences as text.
func TestNoEscapesReachTheTerminal(t *testing.T) {
	needSandbox(t)
	o := newEnv(t).opts(load(t, fixtureDir))
	o.Backend = escBackend{}
	var plain, tty bytes.Buffer
	pp := &PlainProgress{W: &plain, Every: -1}
	tp := &TTYProgress{W: &tty, Width: 200}
	o.Progress = progressFunc(func(e Event) {
		pp.Event(e)
		tp.Event(e)
		if e.Kind == EventLog {
			pp.heartbeat() // the line a long step gets
		}
	})
	_, err := Run(context.Background(), o)
	var se *StepError
	if !errors.As(err, &se) || se.Step != "hello" {
		t.Fatalf("Run: %v, want step hello to fail", err)
	}
	var details bytes.Buffer
	se.WriteDetails(&details)
	if !strings.Contains(details.String(), `before \x1b[2J\x1b]0;pwned\x07\x9b31m\u009b1m\u202e after\rover`) {
		t.Errorf("details do not show the log line escaped:\n%s", details.String())
	}
	for name, out := range map[string]string{
		"details":        details.String(),
		"plain progress": plain.String(),
		// The live line's own control: return, erase line.
		"tty progress": strings.ReplaceAll(tty.String(), "\r\x1b[K", ""),
	} {
		if i := strings.IndexAny(out, "\x1b\x07\r\u009b\u202e"); i >= 0 {
			t.Errorf("%s: a control character reaches the terminal at %d: %q", name, i, out)
		}
	}
	if !strings.Contains(plain.String(), `\x1b[2J`) {
		t.Errorf("plain progress does not show the step's last line escaped:\n%s", plain.String())
	}
}
