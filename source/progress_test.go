package source

import (
	"bytes"
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns both ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("ptsname: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open pty: %v", err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

func TestProgressOnTerminal(t *testing.T) {
	master, tty := openPTY(t)
	if !isTerminal(tty) || isTerminal(&bytes.Buffer{}) {
		t.Fatal("isTerminal is wrong about a pty or a buffer")
	}
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	if isTerminal(devnull) {
		t.Error("isTerminal(/dev/null) = true")
	}

	archive, src := fetchFixture(t)
	m := newMirror(t, map[string][]byte{"/d/demo-1.0.tar.gz": archive})
	src.URLs = urls(m)
	out := make(chan string)
	go func() {
		var b bytes.Buffer
		io.Copy(&b, master) // ends when the pty closes
		out <- b.String()
	}()
	if _, err := Fetch(context.Background(), src, t.TempDir(), tty); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	got := <-out
	if !strings.Contains(got, "\r") || !strings.Contains(got, "100%") || !strings.Contains(got, "demo  ") {
		t.Errorf("terminal progress = %q, want a redrawn line reaching 100%%", got)
	}
	if strings.Contains(got, "downloading http") {
		t.Errorf("terminal progress has the plain start line: %q", got)
	}
}
