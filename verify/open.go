package verify

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrNotRegular is matched (with errors.Is) by the error of OpenRegular and
// its kin for a path that is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// NotRegularError reports a file bootchain was to read that is a named
// pipe, a device, a socket or a directory. Reading a named pipe or some
// devices blocks until another process writes, so such a file is refused
// before any read.
type NotRegularError struct {
	Path string
	Mode fs.FileMode
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s: expected a regular file, found %s", e.Path, KindOf(e.Mode))
}

// Is reports whether target is ErrNotRegular.
func (e *NotRegularError) Is(target error) bool { return target == ErrNotRegular }

// KindOf names the kind of file a mode describes, for messages: "a named
// pipe (FIFO)", "a directory", ...
func KindOf(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "a special file"
}

// OpenRegular opens name for reading and returns it only if it is a
// regular file. It never blocks: the file is opened with O_NONBLOCK (so
// opening a named pipe without a writer returns at once) and checked with
// fstat on the open descriptor, so no rename between a check and the open
// can slip another kind of file in. A file that is not regular is a
// *NotRegularError. Symbolic links are followed.
func OpenRegular(name string) (*os.File, error) {
	return openChecked(name, false, false)
}

// OpenRegularOrDir is OpenRegular that also accepts a directory (for an
// fs.FS that reads a directory tree).
func OpenRegularOrDir(name string) (*os.File, error) {
	return openChecked(name, true, false)
}

// OpenRegularOrBlock is OpenRegular that also accepts a block device (a
// disk image may be read from the stick it was written to).
func OpenRegularOrBlock(name string) (*os.File, error) {
	return openChecked(name, false, true)
}

func openChecked(name string, dirOK, blockOK bool) (*os.File, error) {
	var fd int
	var err error
	for {
		fd, err = unix.Open(name, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	f, err := checkFD(fd, name, dirOK, blockOK)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// checkFD returns fd as a file if it is a regular file (or a directory when
// dirOK), in blocking mode; otherwise it closes fd.
func checkFD(fd int, name string, dirOK, blockOK bool) (*os.File, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFBLK:
		if !blockOK {
			unix.Close(fd)
			return nil, &NotRegularError{Path: name, Mode: fs.ModeDevice}
		}
	case unix.S_IFDIR:
		if !dirOK {
			unix.Close(fd)
			return nil, &NotRegularError{Path: name, Mode: fs.ModeDir}
		}
	default:
		unix.Close(fd)
		return nil, &NotRegularError{Path: name, Mode: modeOf(st.Mode)}
	}
	// O_NONBLOCK means nothing for a regular file or a directory, but clear
	// it so the file behaves as any other opened file.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "fcntl", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

func modeOf(m uint32) fs.FileMode {
	switch m & unix.S_IFMT {
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFSOCK:
		return fs.ModeSocket
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	case unix.S_IFLNK:
		return fs.ModeSymlink
	}
	return fs.ModeIrregular
}

// OpenRegularIn is OpenRegular for the path name inside root: the path is
// resolved by os.Root, so it cannot lead out of root.
func OpenRegularIn(root *os.Root, name string) (*os.File, error) {
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &NotRegularError{Path: name, Mode: fi.Mode()}
	}
	// The descriptor stays non-blocking, which a regular file ignores.
	return f, nil
}

// ReadRegular reads the whole regular file name (see OpenRegular), at most
// limit bytes; a longer file is an error. limit <= 0 means no limit.
func ReadRegular(name string, limit int64) ([]byte, error) {
	f, err := OpenRegular(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f, name, limit)
}

func readLimited(f *os.File, name string, limit int64) ([]byte, error) {
	var r io.Reader = f
	if limit > 0 {
		r = io.LimitReader(f, limit+1)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if limit > 0 && int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, limit)
	}
	return b, nil
}

// DirFS returns a file system for the tree at dir, like os.DirFS, that
// opens only regular files and directories, without blocking (see
// OpenRegular): a chain directory or a local source read through it
// cannot hang bootchain on a named pipe.
func DirFS(dir string) fs.FS { return dirFS(dir) }

type dirFS string

func (d dirFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	f, err := OpenRegularOrDir(filepath.Join(string(d), filepath.FromSlash(name)))
	if err != nil {
		// Name the file as os.DirFS does: by its path in the FS.
		var nr *NotRegularError
		var pe *fs.PathError
		if errors.As(err, &nr) {
			nr.Path = name
		} else if errors.As(err, &pe) {
			pe.Path = name
		}
		return nil, err
	}
	return f, nil
}

// ReadFile implements fs.ReadFileFS.
func (d dirFS) ReadFile(name string) ([]byte, error) {
	f, err := d.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	of := f.(*os.File)
	if fi, err := of.Stat(); err == nil && fi.IsDir() {
		return nil, &NotRegularError{Path: name, Mode: fs.ModeDir}
	}
	return readLimited(of, name, 0)
}
