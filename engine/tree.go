package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bootchain/bootchain/verify"
)

// hostPath returns where the slash-separated path p of a root lives on the host.
func hostPath(root, p string) string {
	return filepath.Join(root, filepath.FromSlash(p))
}

// writeBytes places b at p in root with mode.
func writeBytes(root, p string, b []byte, mode fs.FileMode) error {
	dst := hostPath(root, p)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	os.Remove(dst)
	if err := os.WriteFile(dst, b, mode); err != nil {
		return err
	}
	return os.Chmod(dst, mode)
}

// copyHashed copies the host file src to p in root, hashing the bytes as
// they are copied, and returns their SHA-256. Its mode is 0755 if src has
// any execute bit, else 0644.
func copyHashed(src, root, p string) (string, error) {
	in, err := verify.OpenRegular(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s: not a regular file", src)
	}
	mode := fs.FileMode(0o644)
	if fi.Mode()&0o111 != 0 {
		mode = 0o755
	}
	dst := hostPath(root, p)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	os.Remove(dst)
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, h), in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dst, mode); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// cloneTree makes dst a new root holding the files paths of src: hard links
// where the file system allows (a step root is built in milliseconds), else
// copies. A step that rewrites an input in place also changes src's file;
// that is fine because src is replaced by dst when the step succeeds and
// thrown away when it fails.
func cloneTree(src, dst string, paths []string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	made := map[string]bool{}
	for _, p := range paths {
		from, to := hostPath(src, p), hostPath(dst, p)
		if d := filepath.Dir(to); !made[d] {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
			made[d] = true
		}
		if err := os.Link(from, to); err == nil {
			continue
		}
		if _, err := copyHashed(from, dst, p); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

// prune removes every regular file (and symlink) of root that keep does not
// hold, then every directory left empty.
func prune(root string, keep map[string]string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." {
				dirs = append(dirs, path)
			}
			return nil
		}
		if _, ok := keep[rel]; !ok {
			return os.Remove(path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		os.Remove(d) // fails, as it should, when not empty
	}
	return nil
}

// moveTree moves the directory src to dst (which must not exist): a rename
// when both are on one file system, else a copy and a removal.
func moveTree(src, dst string) error {
	if err := os.Rename(src, dst); err == nil {
		return nil
	} else if !errors.Is(err, syscall.EXDEV) {
		return err
	}
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		case d.Type().IsRegular():
			_, err := copyHashed(path, dst, filepath.ToSlash(rel))
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return os.RemoveAll(src)
}

// scratchPrefix names the directories runs build their roots in.
const scratchPrefix = "bootchain-run-"

// scratchBase returns where step roots are built: $TMPDIR when it is set
// (the person chose), else /dev/shm when it is a writable tmpfs (the stage0
// tools make one system call per byte, and a root in memory keeps that
// cheap), else the system's temporary directory.
func scratchBase() string {
	if os.Getenv("TMPDIR") != "" {
		return os.TempDir()
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &st); err == nil && st.Type == unix.TMPFS_MAGIC && unix.Access("/dev/shm", unix.W_OK) == nil {
		return "/dev/shm"
	}
	return os.TempDir()
}

// scratch is one run's private directory, locked while the run lives.
type scratch struct {
	dir  string
	lock *os.File
}

// newScratch makes a scratch directory under base, first removing those
// that runs killed before they could clean up left behind (their lock is
// free and they were not kept on purpose).
func newScratch(base string) (*scratch, error) {
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, err
	}
	cleanStale(base)
	dir, err := os.MkdirTemp(base, scratchPrefix)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	return &scratch{dir: dir, lock: f}, nil
}

// keptMarker marks a scratch directory kept after a failure for the user.
const keptMarker = "KEPT"

func cleanStale(base string) {
	ents, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), scratchPrefix) {
			continue
		}
		dir := filepath.Join(base, e.Name())
		if _, err := os.Stat(filepath.Join(dir, keptMarker)); err == nil {
			continue
		}
		f, err := os.Open(filepath.Join(dir, "lock"))
		if err != nil {
			// No lock yet: a run between MkdirTemp and its lock, or one
			// killed right there. Only the latter grows old.
			if fi, err := os.Stat(dir); err == nil && time.Since(fi.ModTime()) > time.Hour {
				os.RemoveAll(dir)
			}
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			os.RemoveAll(dir)
		}
		f.Close()
	}
}

// keep leaves the scratch directory in place for the user.
func (s *scratch) keep() {
	os.WriteFile(filepath.Join(s.dir, keptMarker), []byte("kept after a failed step; remove this directory when done\n"), 0o644)
	s.lock.Close()
}

// remove deletes the scratch directory.
func (s *scratch) remove() {
	os.RemoveAll(s.dir)
	s.lock.Close()
}
