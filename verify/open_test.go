package verify

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mkfifo makes a named pipe at p. Opening it for reading without
// O_NONBLOCK blocks until a writer comes, which none ever does here.
func mkfifo(t *testing.T, p string) {
	t.Helper()
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
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

func TestOpenRegular(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "reg")
	if err := os.WriteFile(reg, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	mkfifo(t, fifo)
	if err := os.Symlink("fifo", filepath.Join(dir, "link-to-fifo")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("reg", filepath.Join(dir, "link-to-reg")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		kind string // "" means opened
	}{
		{"regular file", reg, ""},
		{"symlink to a regular file", filepath.Join(dir, "link-to-reg"), ""},
		{"named pipe", fifo, "a named pipe (FIFO)"},
		{"symlink to a named pipe", filepath.Join(dir, "link-to-fifo"), "a named pipe (FIFO)"},
		{"directory", dir, "a directory"},
		{"character device", "/dev/null", "a character device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			noHang(t, "OpenRegular", func() {
				f, err := OpenRegular(tt.path)
				if tt.kind == "" {
					if err != nil {
						t.Fatal(err)
					}
					defer f.Close()
					if b, err := ReadRegular(tt.path, 0); err != nil || string(b) != "data" {
						t.Errorf("ReadRegular = %q, %v", b, err)
					}
					return
				}
				if err == nil {
					f.Close()
					t.Fatalf("OpenRegular(%s) succeeded, want it refused", tt.path)
				}
				if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "expected a regular file, found "+tt.kind) {
					t.Errorf("OpenRegular = %v, want ErrNotRegular naming %s", err, tt.kind)
				}
				// Hashing and reading refuse it the same way.
				if _, err := File(tt.path); !errors.Is(err, ErrNotRegular) {
					t.Errorf("File = %v, want ErrNotRegular", err)
				}
				if _, err := ReadRegular(tt.path, 0); !errors.Is(err, ErrNotRegular) {
					t.Errorf("ReadRegular = %v, want ErrNotRegular", err)
				}
			})
		})
	}
	if _, err := OpenRegular(filepath.Join(dir, "absent")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenRegular of a missing file = %v, want fs.ErrNotExist", err)
	}
	if _, err := ReadRegular(reg, 3); err == nil || !strings.Contains(err.Error(), "larger than 3 bytes") {
		t.Errorf("ReadRegular over its limit = %v", err)
	}
}

// TestNonRegularInTrees checks that DirFS, Tree and Outputs neither block
// on nor hash a named pipe inside a tree.
func TestNonRegularInTrees(t *testing.T) {
	root := writeTree(t, map[string]string{"a": "a\n"})
	mkfifo(t, filepath.Join(root, "p"))
	noHang(t, "DirFS", func() {
		fsys := DirFS(root)
		if _, err := fs.ReadFile(fsys, "p"); !errors.Is(err, ErrNotRegular) {
			t.Errorf("DirFS: ReadFile(p) = %v, want ErrNotRegular", err)
		}
		if b, err := fs.ReadFile(fsys, "a"); err != nil || string(b) != "a\n" {
			t.Errorf("DirFS: ReadFile(a) = %q, %v", b, err)
		}
		if ents, err := fs.ReadDir(fsys, "."); err != nil || len(ents) != 2 {
			t.Errorf("DirFS: ReadDir = %v, %v", ents, err)
		}
		if _, err := fs.ReadFile(fsys, "../x"); err == nil {
			t.Error("DirFS: ReadFile(../x) succeeded")
		}
	})
	noHang(t, "Tree", func() {
		sums, err := Tree(root)
		if err != nil || len(sums) != 1 || sums["a"] != sum("a\n") {
			t.Errorf("Tree = %v, %v; want only a", sums, err)
		}
	})
	noHang(t, "Outputs", func() {
		rs, err := Outputs(root, map[string]string{"p": sum("")})
		if err != nil || len(rs) != 1 || rs[0].OK || rs[0].Problem != problemNotRegular {
			t.Errorf("Outputs = %+v, %v; want p failing as not a regular file", rs, err)
		}
	})
}
