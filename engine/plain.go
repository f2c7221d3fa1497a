package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
)

// PlainMode returns the permission bits a file gets when it leaves a step
// for the host: 0755 for a directory or a file with any execute bit, else
// 0644. No setuid, setgid or sticky bit, nothing writable by others: what
// the store keeps, and what every way out (the --work tree, bootchain
// step's write, an export) must give.
func PlainMode(m fs.FileMode) fs.FileMode {
	if m.IsDir() || m&0o111 != 0 {
		return 0o755
	}
	return 0o644
}

// MakePlain makes the tree at dir safe to leave on the host, in place: every
// directory and regular file gets its PlainMode and the uid and gid of the
// process running bootchain; a symbolic link stays only when it leads to a
// file or directory inside dir; anything else a step can make (a device
// node, a FIFO, a socket, a link out of the tree or to nowhere) is removed.
// It returns the removed paths, slash-separated and sorted. Nothing a step
// leaves can then carry privileges or surprises onto the host.
func MakePlain(dir string) (removed []string, err error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	uid, gid := os.Getuid(), os.Getgid()
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch t := fi.Mode().Type(); {
		case t == 0 || t == fs.ModeDir:
			if err := own(p, fi, uid, gid); err != nil {
				return err
			}
			if fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != PlainMode(fi.Mode()) {
				if err := os.Chmod(p, PlainMode(fi.Mode())); err != nil {
					return err
				}
			}
			return nil
		case t == fs.ModeSymlink:
			if _, err := root.Stat(rel); err == nil {
				return own(p, fi, uid, gid)
			}
		}
		// A device, FIFO or socket, or a link leading out or nowhere.
		if err := os.Remove(p); err != nil {
			return err
		}
		removed = append(removed, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("making %s plain: %w", dir, err)
	}
	sort.Strings(removed)
	return removed, nil
}

// own gives p (not what it links to) to uid and gid when it is not theirs.
func own(p string, fi fs.FileInfo, uid, gid int) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || (int(st.Uid) == uid && int(st.Gid) == gid) {
		return nil
	}
	if err := os.Lchown(p, uid, gid); err != nil && !errors.Is(err, fs.ErrPermission) {
		return err
	} else if err != nil {
		// Not root: the step's files are the caller's already (the
		// sandbox maps its root to the caller), so this is an odd
		// group; say so rather than leave another's file.
		return fmt.Errorf("%s is owned by uid %d gid %d, expected %d %d: %w", p, st.Uid, st.Gid, uid, gid, err)
	}
	return nil
}
