package engine

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// The --work directory. A run builds the new tree beside the old one and
// swaps the two only when it is complete, so a run that fails (before any
// step, or at one) never destroys a tree an earlier run verified. Files a
// person put into the directory are carried over, never deleted: bootchain
// lists what it wrote in .bootchain/files. One run at a time may use a
// directory; a lock file beside it says which.

// workMarker is the directory a run leaves in its work dir; it holds the
// step logs and marks the directory as bootchain's to replace.
const workMarker = ".bootchain"

const (
	workFiles  = "files"  // in workMarker: the paths bootchain wrote, one a line
	workFailed = "failed" // in workMarker: the tree is a failed step's root (a file), or holds it (a directory)
)

// workDir is the --work directory of a run, locked while the run lives.
type workDir struct {
	dir  string // as the person gave it
	lock *os.File
}

// checkWorkDir says whether dir may serve as --work: absent, empty, or
// holding what an earlier run left (workMarker).
func checkWorkDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("--work %s: %w", dir, err)
	}
	if len(ents) == 0 {
		return nil
	}
	if fi, err := os.Stat(filepath.Join(dir, workMarker)); err == nil && fi.IsDir() {
		return nil
	}
	return fmt.Errorf("--work %s: expected an empty directory or one an earlier bootchain run left (with %s/), found other files; choose another directory", dir, workMarker)
}

// lockPath is the lock file of the work directory dir: beside it, so that
// it outlives the swap of the trees.
func lockPath(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = filepath.Clean(dir)
	}
	return filepath.Join(filepath.Dir(abs), "."+filepath.Base(abs)+".bootchain-lock")
}

// openWorkDir checks dir and locks it for this run.
func openWorkDir(dir string) (*workDir, error) {
	if err := checkWorkDir(dir); err != nil {
		return nil, err
	}
	lp := lockPath(dir)
	if err := os.MkdirAll(filepath.Dir(lp), 0o755); err != nil {
		return nil, fmt.Errorf("--work %s: %w", dir, err)
	}
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("--work %s: lock: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("--work %s: another bootchain run is using it (it holds the lock %s); wait for that run to end or choose another directory", dir, lp)
		}
		return nil, fmt.Errorf("--work %s: lock %s: %w", dir, lp, err)
	}
	return &workDir{dir: dir, lock: f}, nil
}

func (w *workDir) close() {
	if w != nil && w.lock != nil {
		w.lock.Close()
	}
}

// verified says whether the directory holds a tree a run completed (not
// empty, not a failed step's root).
func (w *workDir) verified() bool {
	if fi, err := os.Stat(filepath.Join(w.dir, workMarker)); err != nil || !fi.IsDir() {
		return false
	}
	fi, err := os.Stat(filepath.Join(w.dir, workMarker, workFailed))
	return err != nil || fi.IsDir()
}

// place makes the tree from, with the run's logs, the directory's new
// content: built beside it, made plain, given the person's files, then
// swapped in. failedStep, when not empty, marks the tree as that step's
// failed root.
func (w *workDir) place(from, logs, failedStep string) error {
	dir := filepath.Clean(w.dir)
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".bootchain-new-")
	if err != nil {
		return fmt.Errorf("--work %s: %w", w.dir, err)
	}
	defer os.RemoveAll(tmp) // after the swap it holds the old tree
	os.Remove(tmp)
	if err := w.build(from, logs, tmp, failedStep); err != nil {
		return fmt.Errorf("--work %s: %w", w.dir, err)
	}
	moved, err := w.carryOver(tmp)
	if err != nil {
		return err
	}
	if err := swapDirs(tmp, dir); err != nil {
		for _, p := range moved { // back where the person put them
			os.Rename(hostPath(tmp, p), hostPath(dir, p))
		}
		return fmt.Errorf("--work %s: %w", w.dir, err)
	}
	return nil
}

// build moves the tree from to dst and writes its .bootchain/.
func (w *workDir) build(from, logs, dst, failedStep string) error {
	if err := moveTree(from, dst); err != nil {
		return err
	}
	if _, err := MakePlain(dst); err != nil {
		return err
	}
	files, err := listFiles(dst)
	if err != nil {
		return err
	}
	marker := filepath.Join(dst, workMarker)
	os.RemoveAll(marker) // a step may not write bootchain's own files
	if err := os.MkdirAll(marker, 0o755); err != nil {
		return err
	}
	if err := moveTree(logs, filepath.Join(marker, "logs")); err != nil {
		return err
	}
	if _, err := MakePlain(filepath.Join(marker, "logs")); err != nil {
		return err
	}
	if failedStep != "" {
		if err := writeAtomic(filepath.Join(marker, workFailed), []byte(failedStep+"\n")); err != nil {
			return err
		}
	}
	return writeAtomic(filepath.Join(marker, workFiles), []byte(strings.Join(files, "\n")+"\n"))
}

// keepFailed leaves a failed step's root, with the run's logs, in
// .bootchain/failed/ of a verified tree, which stays as it was. It returns
// where the root and the logs now are.
func (w *workDir) keepFailed(from, logs string) (root, logDir string, err error) {
	dst := filepath.Join(w.dir, workMarker, workFailed)
	if err := os.RemoveAll(dst); err != nil { // an earlier failure's, bootchain's own
		return "", "", fmt.Errorf("--work %s: %w", w.dir, err)
	}
	root, logDir = filepath.Join(dst, "root"), filepath.Join(dst, "logs")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return "", "", fmt.Errorf("--work %s: %w", w.dir, err)
	}
	for _, m := range [][2]string{{from, root}, {logs, logDir}} {
		if err := moveTree(m[0], m[1]); err != nil {
			return "", "", fmt.Errorf("--work %s: %w", w.dir, err)
		}
		if _, err := MakePlain(m[1]); err != nil {
			return "", "", fmt.Errorf("--work %s: %w", w.dir, err)
		}
	}
	return root, logDir, nil
}

// carryOver moves the files a person put into the old tree (those not
// listed in its .bootchain/files) into the new one at dst. A tree from
// before that list existed is taken as all bootchain's. It returns the
// paths it moved.
func (w *workDir) carryOver(dst string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(w.dir, workMarker, workFiles))
	if err != nil {
		return nil, nil
	}
	ours := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		ours[sc.Text()] = true
	}
	have, err := listFiles(w.dir)
	if err != nil {
		return nil, fmt.Errorf("--work %s: %w", w.dir, err)
	}
	var theirs []string
	for _, p := range have {
		if !ours[p] {
			theirs = append(theirs, p)
		}
	}
	for _, p := range theirs {
		if _, err := os.Lstat(hostPath(dst, p)); err == nil {
			return nil, fmt.Errorf("--work %s: %s was not written by bootchain, and the new tree has a file there; move it away and run again (the old tree is unchanged)", w.dir, p)
		}
	}
	var moved []string
	for _, p := range theirs {
		to := hostPath(dst, p)
		err := os.MkdirAll(filepath.Dir(to), 0o755)
		if err == nil {
			err = os.Rename(hostPath(w.dir, p), to)
		}
		if err != nil {
			for _, m := range moved {
				os.Rename(hostPath(dst, m), hostPath(w.dir, m))
			}
			return nil, fmt.Errorf("--work %s: %s: %w", w.dir, p, err)
		}
		moved = append(moved, p)
	}
	return moved, nil
}

// listFiles lists every file and link under dir but workMarker, sorted.
func listFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == workMarker && d.IsDir() {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// swapDirs puts the directory src at dst: one atomic exchange when dst
// exists (the old tree ends up at src), else a rename.
func swapDirs(src, dst string) error {
	if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
		return os.Rename(src, dst)
	}
	err := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.RENAME_EXCHANGE)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
		return err
	}
	// No exchange on this file system: two renames, the old tree set aside
	// first.
	old := src + ".old"
	if err := os.Rename(dst, old); err != nil {
		return err
	}
	if err := os.Rename(src, dst); err != nil {
		os.Rename(old, dst)
		return err
	}
	return os.Rename(old, src)
}

// writeAtomic writes b to p through a temporary file in its directory.
func writeAtomic(p string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}
