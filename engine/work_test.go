package engine

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bootchain/bootchain/chain"
)

// plant makes, in a step's root, what a hostile step could leave for the
// host: a setuid and setgid output, a set-id input (hard-linked to the
// run's tree), a world-writable setgid sticky directory, a FIFO, a socket,
// a device node (root only: a step cannot make one, the test can), a
// link out of the root and files owned by another user.
func plant(t *testing.T, root string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Chmod(filepath.Join(root, "out/a"), 0o777|fs.ModeSetuid|fs.ModeSetgid))
	must(os.Chmod(filepath.Join(root, "bin/hex0"), 0o755|fs.ModeSetuid))
	must(os.Chmod(filepath.Join(root, "out"), 0o777|fs.ModeSetgid|fs.ModeSticky))
	must(unix.Mkfifo(filepath.Join(root, "out/fifo"), 0o666))
	must(os.Symlink("/etc/passwd", filepath.Join(root, "out/passwd")))
	if l, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0); err == nil {
		unix.Bind(l, &unix.SockaddrUnix{Name: filepath.Join(root, "out/sock")})
		unix.Close(l)
	}
	if os.Geteuid() == 0 {
		must(unix.Mknod(filepath.Join(root, "out/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
		must(os.Lchown(filepath.Join(root, "out/b"), 12345, 12345))
	}
}

// checkPlain fails the test for anything under dir that is not a plain
// directory or file of the caller, or a link inside dir.
func checkPlain(t *testing.T, dir string) {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			t.Error(err)
			return nil
		}
		n++
		st := fi.Sys().(*syscall.Stat_t)
		if int(st.Uid) != os.Getuid() || int(st.Gid) != os.Getgid() {
			t.Errorf("%s: owned by %d:%d, want %d:%d", p, st.Uid, st.Gid, os.Getuid(), os.Getgid())
		}
		switch fi.Mode().Type() {
		case 0, fs.ModeDir:
			if m := fi.Mode() &^ fs.ModeDir; m != 0o755 && m != 0o644 {
				t.Errorf("%s: mode %v, want 0755 or 0644", p, fi.Mode())
			}
		case fs.ModeSymlink:
			if l, _ := os.Readlink(p); filepath.IsAbs(l) {
				t.Errorf("%s: a link to %s left the root", p, l)
			}
		default:
			t.Errorf("%s: a %v left the sandbox", p, fi.Mode().Type())
		}
		return nil
	})
	if n < 3 {
		t.Errorf("%s: only %d entries; expected a tree", dir, n)
	}
}

// TestOutputsArePlain: whatever a step leaves, the --work tree, a failed
// step's kept root and MakePlain hold only plain files and directories of
// the caller.
func TestOutputsArePlain(t *testing.T) {
	needSandbox(t)
	c := load(t, fixtureDir)
	hostile := meddling{func(st chain.Step, root string) {
		if st.Name == "data" {
			plant(t, root)
		}
	}}
	t.Run("work tree", func(t *testing.T) {
		o := newEnv(t).opts(c)
		o.WorkDir = filepath.Join(t.TempDir(), "w")
		o.Backend = hostile
		if _, err := Run(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		checkPlain(t, o.WorkDir)
	})
	failing := meddling{func(st chain.Step, root string) {
		if st.Name == "data" {
			plant(t, root)
			os.WriteFile(filepath.Join(root, "out/hello"), []byte("not the pinned bytes"), 0o755)
		}
	}}
	t.Run("failed root in work dir", func(t *testing.T) {
		o := newEnv(t).opts(c)
		o.WorkDir = filepath.Join(t.TempDir(), "w")
		o.Backend = failing
		_, err := Run(context.Background(), o)
		var se *StepError
		if !errors.As(err, &se) || se.WorkDir != o.WorkDir {
			t.Fatalf("Run: %v; want step data to fail with its root kept in %s", err, o.WorkDir)
		}
		checkPlain(t, o.WorkDir)
	})
	t.Run("failed root kept in scratch", func(t *testing.T) {
		o := newEnv(t).opts(c)
		o.Backend = failing
		_, err := Run(context.Background(), o)
		var se *StepError
		if !errors.As(err, &se) || se.WorkDir == "" {
			t.Fatalf("Run: %v; want step data to fail with its root kept", err)
		}
		checkPlain(t, se.WorkDir)
	})
	t.Run("MakePlain", func(t *testing.T) {
		dir := t.TempDir()
		for _, d := range []string{"out", "bin"} {
			os.Mkdir(filepath.Join(dir, d), 0o755)
		}
		for _, f := range []string{"out/a", "out/b", "bin/hex0"} {
			os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644)
		}
		os.Symlink("a", filepath.Join(dir, "out/link"))
		plant(t, dir)
		removed, err := MakePlain(dir)
		if err != nil {
			t.Fatal(err)
		}
		checkPlain(t, dir)
		if _, err := os.Lstat(filepath.Join(dir, "out/link")); err != nil {
			t.Errorf("a link inside the tree was removed: %v", err)
		}
		if got := strings.Join(removed, " "); !strings.Contains(got, "out/fifo") || !strings.Contains(got, "out/passwd") {
			t.Errorf("removed %q; want the FIFO and the link out", got)
		}
	})
}

// TestWorkTreeKept: a failed run never destroys the verified --work tree
// (the failed root goes beside it), a person's files in it survive every
// run, and a second run cannot use the directory while one holds it.
func TestWorkTreeKept(t *testing.T) {
	needSandbox(t)
	c := load(t, fixtureDir)
	e := newEnv(t)
	o := e.opts(c)
	o.WorkDir = filepath.Join(t.TempDir(), "w")
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	verified := treeHashes(t, o.WorkDir)
	notes := filepath.Join(o.WorkDir, "out", "my-notes.txt")
	if err := os.WriteFile(notes, []byte("mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	same := func(when string) {
		t.Helper()
		got := treeHashes(t, o.WorkDir)
		for p, h := range verified {
			if got[p] != h {
				t.Errorf("%s: %s is %q, was %s", when, p, got[p], h)
			}
		}
		if b, err := os.ReadFile(notes); err != nil || string(b) != "mine\n" {
			t.Errorf("%s: the person's file: %q, %v", when, b, err)
		}
	}

	// A step that fails: its root is kept beside the tree.
	tampered := e.opts(load(t, tamperedDir))
	tampered.WorkDir = o.WorkDir
	_, err := Run(context.Background(), tampered)
	var se *StepError
	if !errors.As(err, &se) || se.Step != "data" {
		t.Fatalf("tampered run: %v, want step data to fail", err)
	}
	same("after a failed step")
	if want := filepath.Join(o.WorkDir, workMarker, workFailed, "root"); se.WorkDir != want {
		t.Errorf("failed root kept at %q, want %q", se.WorkDir, want)
	} else if _, err := os.Stat(filepath.Join(want, "out/b")); err != nil {
		t.Errorf("failed root: %v", err)
	}
	if _, err := os.Stat(se.LogFile); err != nil {
		t.Errorf("failed step's log: %v", err)
	}

	// A run that fails before its first step runs (a changed source).
	dir := copyChain(t, fixtureDir)
	flipByte(t, filepath.Join(dir, "src/hex/a.hex0"), 0)
	broken := e.opts(load(t, dir))
	broken.WorkDir, broken.NoCache = o.WorkDir, false
	if _, err := Run(context.Background(), broken); err == nil {
		t.Fatal("run with a changed source: no error")
	}
	same("after a failed source check")

	// A run that goes well replaces the tree and keeps the person's file.
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	same("after a second run")

	// One run at a time.
	w, err := openWorkDir(o.WorkDir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), o)
	w.close()
	if err == nil || !strings.Contains(err.Error(), "--work "+o.WorkDir+": another bootchain run is using it") {
		t.Errorf("second run on a locked work dir: %v", err)
	}
	same("after a refused run")
}
