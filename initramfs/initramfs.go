// Package initramfs writes deterministic Linux initramfs archives: newc cpio,
// optionally gzip-compressed, that are byte-identical for the same entries on
// any machine and in any run.
//
// A root is described as a list of entries (File, Dir, CharDev). Write
// validates every path, rejects duplicates, adds the parent directories the
// caller left out, sorts the records so that every directory precedes its
// contents, and writes them with fixed metadata: mtime 0, uid and gid 0,
// inode numbers 1, 2, 3, ... in archive order, and link counts computed from
// the tree. Device nodes are records in the archive, so no privilege is needed
// to make them. The kernel unpacks such an archive into its rootfs; nothing in
// it depends on the host it was written on.
package initramfs

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/bootchain/bootchain/verify"
)

// MaxFileSize is the largest file a newc archive can hold: its size field is
// 32 bits wide.
const MaxFileSize = 1<<32 - 1

// Entry is one record of the root: a File, Dir or CharDev.
type Entry interface {
	// EntryPath is the entry's path inside the root, slash-separated, as given.
	EntryPath() string
	record() (cpio.Record, func() error, error)
}

// File is a regular file. Its content is Data, or, when HostPath is set, the
// content of that host file read when the archive is written (so big inputs
// are streamed, never held in memory).
type File struct {
	Path     string
	Mode     fs.FileMode // permission bits; 0 means 0644
	Data     []byte
	HostPath string
}

// Dir is a directory. Directories that are only parents of other entries need
// not be listed; Write adds them with mode 0755.
type Dir struct {
	Path string
	Mode fs.FileMode // permission bits; 0 means 0755
}

// CharDev is a character device node.
type CharDev struct {
	Path         string
	Mode         fs.FileMode // permission bits; 0 means 0600
	Major, Minor uint32
}

// EntryPath implements Entry.
func (f File) EntryPath() string { return f.Path }

// EntryPath implements Entry.
func (d Dir) EntryPath() string { return d.Path }

// EntryPath implements Entry.
func (c CharDev) EntryPath() string { return c.Path }

func perm(m, def fs.FileMode) uint64 {
	if m == 0 {
		m = def
	}
	return uint64(m.Perm())
}

func (f File) record() (cpio.Record, func() error, error) {
	info := cpio.Info{Mode: cpio.S_IFREG | perm(f.Mode, 0o644)}
	if f.HostPath == "" {
		if int64(len(f.Data)) > MaxFileSize {
			return cpio.Record{}, nil, fmt.Errorf("%d bytes, expected at most %d (newc size field is 32 bits)", len(f.Data), int64(MaxFileSize))
		}
		return cpio.StaticRecord(f.Data, info), nil, nil
	}
	if f.Data != nil {
		return cpio.Record{}, nil, fmt.Errorf("both Data and HostPath %s set, expected one", f.HostPath)
	}
	h, err := verify.OpenRegular(f.HostPath)
	if err != nil {
		return cpio.Record{}, nil, err
	}
	st, err := h.Stat()
	if err != nil {
		h.Close()
		return cpio.Record{}, nil, err
	}
	if !st.Mode().IsRegular() {
		h.Close()
		return cpio.Record{}, nil, fmt.Errorf("host file %s is %s, expected a regular file", f.HostPath, st.Mode().Type())
	}
	if st.Size() > MaxFileSize {
		h.Close()
		return cpio.Record{}, nil, fmt.Errorf("host file %s has %d bytes, expected at most %d (newc size field is 32 bits)", f.HostPath, st.Size(), int64(MaxFileSize))
	}
	info.FileSize = uint64(st.Size())
	// The cpio writer checks that exactly FileSize bytes were copied, so a
	// file that changes size while it is archived fails the write.
	return cpio.Record{ReaderAt: io.NewSectionReader(h, 0, st.Size()), Info: info}, h.Close, nil
}

func (d Dir) record() (cpio.Record, func() error, error) {
	return cpio.Directory("", perm(d.Mode, 0o755)), nil, nil
}

func (c CharDev) record() (cpio.Record, func() error, error) {
	return cpio.CharDev("", perm(c.Mode, 0o600), uint64(c.Major), uint64(c.Minor)), nil, nil
}

// DeviceNodes returns the device nodes a serial-console guest needs:
// /dev/console (5,1), /dev/ttyS0../dev/ttyS3 (4,64..67) and /dev/null (1,3).
func DeviceNodes() []Entry {
	e := []Entry{
		Dir{Path: "dev", Mode: 0o755},
		CharDev{Path: "dev/console", Mode: 0o600, Major: 5, Minor: 1},
		CharDev{Path: "dev/null", Mode: 0o666, Major: 1, Minor: 3},
	}
	for i := range uint32(4) {
		e = append(e, CharDev{Path: fmt.Sprintf("dev/ttyS%d", i), Mode: 0o660, Major: 4, Minor: 64 + i})
	}
	return e
}

// Options control Write.
type Options struct {
	// Gzip compresses the archive with a fixed gzip header (no name, mtime 0,
	// OS byte 255 "unknown") at the best compression level. The compressed
	// bytes are stable for a given Go release; the uncompressed archive is
	// stable across releases.
	Gzip bool
}

// Clean returns the canonical form of an entry path: relative to the root
// with no leading slash. It rejects an empty path, the root itself, "." and
// ".." components, repeated or trailing slashes, and NUL bytes, so that no
// entry can escape the root or name one file twice.
func Clean(p string) (string, error) {
	q := strings.TrimPrefix(p, "/")
	switch {
	case q == "":
		return "", fmt.Errorf("path %q: empty or the root itself, expected a path inside the root", p)
	case strings.ContainsRune(q, 0):
		return "", fmt.Errorf("path %q: contains a NUL byte", p)
	}
	for _, el := range strings.Split(q, "/") {
		switch el {
		case "":
			return "", fmt.Errorf("path %q: empty component (repeated, leading or trailing slash)", p)
		case ".", "..":
			return "", fmt.Errorf("path %q: %q component, expected a plain path inside the root", p, el)
		}
	}
	return q, nil
}

type node struct {
	path  string
	entry Entry
	dir   bool
}

// Plan validates entries and returns them as Write archives them: cleaned
// paths, missing parent directories added, sorted so that parents come first.
func Plan(entries []Entry) ([]Entry, error) {
	nodes, err := plan(entries)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, len(nodes))
	for i, n := range nodes {
		out[i] = n.entry
	}
	return out, nil
}

func plan(entries []Entry) ([]node, error) {
	byPath := map[string]node{}
	for _, e := range entries {
		if e == nil {
			return nil, fmt.Errorf("initramfs: nil entry")
		}
		p, err := Clean(e.EntryPath())
		if err != nil {
			return nil, fmt.Errorf("initramfs: %w", err)
		}
		var n node
		switch v := e.(type) {
		case File:
			v.Path = p
			n = node{path: p, entry: v}
		case Dir:
			v.Path = p
			n = node{path: p, entry: v, dir: true}
		case CharDev:
			v.Path = p
			n = node{path: p, entry: v}
		default:
			return nil, fmt.Errorf("initramfs: %s: entry type %T, expected File, Dir or CharDev", p, e)
		}
		if _, dup := byPath[p]; dup {
			return nil, fmt.Errorf("initramfs: %s: listed twice", p)
		}
		byPath[p] = n
	}
	// Add missing parents, and refuse a parent that is not a directory.
	for p := range byPath {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			n, ok := byPath[d]
			if !ok {
				byPath[d] = node{path: d, entry: Dir{Path: d, Mode: 0o755}, dir: true}
				continue
			}
			if !n.dir {
				return nil, fmt.Errorf("initramfs: %s: parent %s is a %s, expected a directory", p, d, kind(n.entry))
			}
		}
	}
	nodes := make([]node, 0, len(byPath))
	for _, n := range byPath {
		nodes = append(nodes, n)
	}
	// Byte order puts every directory before its contents: a parent is a
	// prefix of its children's paths.
	slices.SortFunc(nodes, func(a, b node) int { return strings.Compare(a.path, b.path) })
	return nodes, nil
}

func kind(e Entry) string {
	switch e.(type) {
	case File:
		return "file"
	case CharDev:
		return "character device"
	}
	return "directory"
}

// Write writes the archive of entries to w: see the package comment for what
// is fixed. It fails on an invalid or duplicate path, a file whose parent is
// not a directory, a file of 4 GiB or more, or a host file that changes size
// while it is read.
func Write(w io.Writer, entries []Entry, opts Options) error {
	nodes, err := plan(entries)
	if err != nil {
		return err
	}
	// Link counts: 1 for non-directories; 2 plus one per subdirectory for
	// directories, as a filesystem would report them.
	nlink := make(map[string]uint64, len(nodes))
	for _, n := range nodes {
		if n.dir {
			nlink[n.path] += 2
			if d := path.Dir(n.path); d != "." {
				nlink[d]++
			}
		}
	}

	bw := bufio.NewWriterSize(w, 1<<16)
	var out io.Writer = bw
	var zw *gzip.Writer
	if opts.Gzip {
		zw, err = gzip.NewWriterLevel(bw, gzip.BestCompression)
		if err != nil {
			return fmt.Errorf("initramfs: gzip: %w", err)
		}
		zw.Header = gzip.Header{OS: 255}
		out = zw
	}
	rw := cpio.Newc.Writer(out)
	for i, n := range nodes {
		rec, closeFn, err := n.entry.record()
		if err != nil {
			return fmt.Errorf("initramfs: %s: %w", n.path, err)
		}
		rec.Name = n.path
		rec = cpio.MakeReproducible(rec)
		rec.Ino = uint64(i + 1)
		rec.NLink = 1
		if n.dir {
			rec.NLink = nlink[n.path]
		}
		err = rw.WriteRecord(rec)
		if closeFn != nil {
			if cerr := closeFn(); err == nil && cerr != nil {
				err = cerr
			}
		}
		if err != nil {
			return fmt.Errorf("initramfs: write %s: %w", n.path, err)
		}
	}
	if err := cpio.WriteTrailer(rw); err != nil {
		return fmt.Errorf("initramfs: write trailer: %w", err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return fmt.Errorf("initramfs: gzip: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	return nil
}

// WriteFile writes the archive to the host file name atomically: a temporary
// file in the same directory, synced, then renamed over name.
func WriteFile(name string, entries []Entry, opts Options) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := Write(tmp, entries, opts); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("initramfs: %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("initramfs: %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	return nil
}

// FromDir lists the regular files and directories under the host directory
// root as entries (files by HostPath, permission bits kept), so a step root
// prepared on the host can be archived. Symbolic links and other special
// files are refused: a step root holds only files.
func FromDir(root string) ([]Entry, error) {
	var entries []Entry
	err := fs.WalkDir(os.DirFS(root), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		m := info.Mode().Perm()
		switch {
		case m == 0:
			// Mode 0 means "the default" in an Entry: refuse rather than
			// silently grant permissions the host file does not have.
			return fmt.Errorf("%s has no permission bits, expected at least one", p)
		case d.IsDir():
			entries = append(entries, Dir{Path: p, Mode: m})
		case info.Mode().IsRegular():
			entries = append(entries, File{Path: p, Mode: m, HostPath: filepath.Join(root, filepath.FromSlash(p))})
		default:
			return fmt.Errorf("%s is %s, expected a regular file or directory", p, info.Mode().Type())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("initramfs: from %s: %w", root, err)
	}
	return entries, nil
}
