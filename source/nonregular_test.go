package source

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bootchain/bootchain/verify"
)

func mkfifo(t *testing.T, p string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// noHang runs f and fails the test if f has not returned after a minute:
// it blocked on a named pipe (a hang, not a slow call).
func noHang(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("%s blocked", what)
	}
}

// TestNonRegularRefused checks every way a source's bytes reach bootchain
// with a named pipe where a file should be: each is refused at once,
// naming the pipe, where reading it would block forever.
func TestNonRegularRefused(t *testing.T) {
	archive, src := fetchFixture(t)
	tests := []struct {
		name string
		run  func(t *testing.T, dir string) error
		want string
	}{
		{"--source NAME=FIFO", func(t *testing.T, dir string) error {
			_, err := Open(context.Background(), src, mkfifo(t, filepath.Join(dir, "demo.tar.gz")), t.TempDir())
			return err
		}, "demo.tar.gz: expected a regular file, found a named pipe (FIFO)"},
		{"--source NAME=FIFO for a placed archive", func(t *testing.T, dir string) error {
			_, err := Open(context.Background(), placedSource(archive), mkfifo(t, filepath.Join(dir, "demo.tar.gz")), t.TempDir())
			return err
		}, "found a directory or special file"},
		{"tree with a FIFO at a pinned path", func(t *testing.T, dir string) error {
			tree := checkout(t, pinnedContent())
			os.Remove(filepath.Join(tree, "x86/M0_x86.hex2"))
			mkfifo(t, filepath.Join(tree, "x86/M0_x86.hex2"))
			_, err := Open(context.Background(), src, tree, t.TempDir())
			return err
		}, "x86/M0_x86.hex2: not a regular file"},
		{"local source with a FIFO", func(t *testing.T, dir string) error {
			local := checkout(t, pinnedContent())
			os.Remove(filepath.Join(local, "x86/M0_x86.hex2"))
			mkfifo(t, filepath.Join(local, "x86/M0_x86.hex2"))
			s := src
			s.URLs, s.Strip, s.Local, s.LocalDir = nil, 0, verify.DirFS(local), "src"
			_, err := Open(context.Background(), s, "", t.TempDir())
			return err
		}, "x86/M0_x86.hex2: expected a regular file, found a named pipe (FIFO)"},
		{"cached archive is a FIFO", func(t *testing.T, dir string) error {
			cache := t.TempDir()
			mkfifo(t, ArchivePath(src, cache))
			_, err := Open(context.Background(), src, "", cache)
			return err
		}, "demo-1.0.tar.gz: expected a regular file, found a named pipe (FIFO)"},
		{"fetch over a cached FIFO", func(t *testing.T, dir string) error {
			cache := t.TempDir()
			mkfifo(t, ArchivePath(src, cache))
			_, err := Fetch(context.Background(), src, cache, nil)
			return err
		}, "expected a regular file, found a named pipe (FIFO)"},
		{"fetch resuming a FIFO .part", func(t *testing.T, dir string) error {
			cache := t.TempDir()
			mkfifo(t, ArchivePath(src, cache)+".part")
			m := newMirror(t, map[string][]byte{"/d/demo-1.0.tar.gz": archive})
			s := src
			s.URLs = urls(m)
			_, err := Fetch(context.Background(), s, cache, nil)
			return err
		}, "demo-1.0.tar.gz.part: expected a regular file, found a named pipe (FIFO)"},
		{"fetch --from a directory holding a FIFO", func(t *testing.T, dir string) error {
			mkfifo(t, filepath.Join(dir, "demo-1.0.tar.gz"))
			_, err := Import(src, dir, t.TempDir())
			return err
		}, "demo-1.0.tar.gz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			noHang(t, tt.name, func() { err = tt.run(t, t.TempDir()) })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
			if errors.Is(err, context.Canceled) {
				t.Errorf("error = %v, want no cancellation", err)
			}
		})
	}
}
