// Package source provides a chain's pinned upstream sources as verified
// trees of files on the host. A source is trusted through the SHA-256 of
// every file the steps read from it, not through its archive: the release
// archive, a repacked archive and a git checkout (with submodules) of the
// same release are all accepted, and every pinned file is checked each time
// a source is opened. A source with `place` is the exception: its one
// pinned file is the archive itself, placed whole for a step to unpack. Archives are downloaded from mirrors in order (Fetch)
// or imported from a directory (Import) into a cache:
//
//	CACHE/distfiles/NAME          downloaded or imported archives
//	CACHE/distfiles/NAME.part     a download in progress, resumed by the next Fetch
//	CACHE/sources/SOURCE/KEY/     the pinned files unpacked from an archive
//
// where CACHE is CacheDir() and KEY is derived from the source's pins.
package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/verify"
)

// Tree is one source's verified files on the host.
type Tree struct {
	Source chain.Source
	Root   string // host directory holding the pinned files at their paths
	// Form is how the files entered the cache: verify.FormArchive (an
	// archive unpacked) or verify.FormTree (a directory's files copied),
	// "" when the cache does not say (made by an older bootchain).
	Form string
}

// Path returns the host path of the pinned file p (slash-separated).
func (t *Tree) Path(p string) string { return filepath.Join(t.Root, filepath.FromSlash(p)) }

// CacheDir returns bootchain's cache directory: $XDG_CACHE_HOME/bootchain,
// or $HOME/.cache/bootchain when XDG_CACHE_HOME is unset or not absolute (as
// the XDG base directory specification asks).
func CacheDir() (string, error) {
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "bootchain"), nil
	}
	home := os.Getenv("HOME")
	if home == "" {
		return "", errors.New("cache directory: neither XDG_CACHE_HOME nor HOME is set")
	}
	return filepath.Join(home, ".cache", "bootchain"), nil
}

// ArchiveName returns the file name src's archive has in the distfiles
// cache: the last element of its first URL, prefixed with "NAME-" when it
// does not already contain the source name (GitHub's tag archives are
// called just "v1.0.tar.gz"). It is empty for a source without URLs.
func ArchiveName(src chain.Source) string {
	if len(src.URLs) == 0 {
		return ""
	}
	base := urlBase(src.URLs[0])
	if base == "" {
		base = src.Name + "-" + src.Version
	}
	if !strings.Contains(base, src.Name) {
		base = src.Name + "-" + base
	}
	return base
}

// urlBase returns the unescaped last path element of a URL, or "".
func urlBase(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	b := path.Base(u.Path)
	if b == "." || b == "/" || strings.ContainsAny(b, `/\`) || b == ".." {
		return ""
	}
	return b
}

// ArchivePath returns where src's archive lives in the cache under cacheDir.
func ArchivePath(src chain.Source, cacheDir string) string {
	return filepath.Join(cacheDir, "distfiles", ArchiveName(src))
}

// unpackDir returns the cache directory for the pinned files of src. Its
// name depends on the pins only, so every archive or tree of the same
// release unpacks to the same place.
func unpackDir(src chain.Source, cacheDir string) string {
	h := sha256.New()
	for _, p := range sortedPaths(src.Files) {
		fmt.Fprintf(h, "%s  %s\n", src.Files[p], p)
	}
	name := src.Name
	if src.Version != "" {
		name += "-" + src.Version
	}
	return filepath.Join(cacheDir, "sources", name, hex.EncodeToString(h.Sum(nil))[:16])
}

func sortedPaths(m map[string]string) []string {
	ps := make([]string, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

// Open returns src's verified tree. When supplied is not empty it is the
// path given with --source NAME=PATH: an archive (.tar, .tar.gz, .tar.bz2 or
// .tar.xz, recognised by content) or an unpacked directory such as a git
// checkout with submodules; a directory is checked in place and its pinned
// files copied into the cache (checked again on the way), as an archive's
// are unpacked there, so a later Open without it finds them. Otherwise a local source is read from src.Local, and a
// remote one from the cache under cacheDir (its unpacked files, else its
// archive in distfiles).
//
// Every pinned file is checked by its own pin, in path order; the first one
// that differs or is missing is returned as a *verify.MismatchError naming
// the source. When nothing supplies the source the error is a
// *MissingError that says which file to put where, and how.
func Open(ctx context.Context, src chain.Source, supplied, cacheDir string) (*Tree, error) {
	for p := range src.Files {
		if c, err := verify.CleanPath(p); err != nil || c != p {
			return nil, fmt.Errorf("source %s: pinned path %q: not a clean relative path", src.Name, p)
		}
	}
	if supplied != "" {
		return openSupplied(ctx, src, supplied, cacheDir)
	}
	if src.Local != nil {
		dest := unpackDir(src, cacheDir)
		if err := installFresh(ctx, src, dest, verify.FormTree, func(tmp string) error {
			return copyLocal(ctx, src, tmp)
		}); err != nil {
			return nil, err
		}
		return &Tree{Source: src, Root: dest, Form: verify.FormTree}, nil
	}
	dest := unpackDir(src, cacheDir)
	if _, err := os.Stat(dest); err == nil {
		err := checkDir(ctx, src, dest, func(e *verify.MismatchError) {
			e.Meaning = fmt.Sprintf("the unpacked copy in the cache was changed after it was checked; remove %s to unpack the archive again", dest)
		})
		if err != nil {
			return nil, err
		}
		return &Tree{Source: src, Root: dest, Form: readForm(dest)}, nil
	}
	archive := ArchivePath(src, cacheDir)
	if len(src.URLs) == 0 {
		return nil, &MissingError{Source: src, CacheDir: cacheDir}
	}
	if _, err := os.Stat(archive); errors.Is(err, fs.ErrNotExist) {
		return nil, &MissingError{Source: src, CacheDir: cacheDir}
	} else if err != nil {
		return nil, fmt.Errorf("source %s: %w", src.Name, err)
	}
	if src.ArchiveSHA256 != "" {
		got, err := verify.File(archive)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", src.Name, err)
		}
		if got != src.ArchiveSHA256 {
			return nil, &verify.MismatchError{Source: src.Name, Path: archive, Expected: src.ArchiveSHA256, Actual: got,
				Meaning: "the cached archive is damaged or is not the pinned release; remove it and run bootchain fetch again"}
		}
	}
	if err := installFresh(ctx, src, dest, verify.FormArchive, func(tmp string) error {
		return unpack(ctx, src, archive, tmp)
	}); err != nil {
		return nil, err
	}
	return &Tree{Source: src, Root: dest, Form: readForm(dest)}, nil
}

// Cached returns src's pinned files in the cache under cacheDir, each
// checked against its pin, when they are there (unpacked from an archive
// or imported from a tree by an earlier run): what Open uses when no
// --source is given. It returns nil when they are not there or do not
// check out, and for a source a step unpacks (src.Place), whose archive is
// what a run needs, and a local one.
func Cached(ctx context.Context, src chain.Source, cacheDir string) *Tree {
	if src.Place != "" || src.Local != nil {
		return nil
	}
	dest := unpackDir(src, cacheDir)
	if fi, err := os.Stat(dest); err != nil || !fi.IsDir() {
		return nil
	}
	if checkDir(ctx, src, dest, func(*verify.MismatchError) {}) != nil {
		return nil
	}
	return &Tree{Source: src, Root: dest, Form: readForm(dest)}
}

func openSupplied(ctx context.Context, src chain.Source, supplied, cacheDir string) (*Tree, error) {
	fi, err := os.Stat(supplied)
	if err != nil {
		return nil, fmt.Errorf("source %s: --source %s=%s: %w", src.Name, src.Name, supplied, err)
	}
	if src.Place != "" && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("source %s: --source %s=%s: expected the archive itself (sha256 %s), found a directory or special file: this source is unpacked by a step, so only its archive is accepted",
			src.Name, src.Name, supplied, src.ArchiveSHA256)
	}
	if fi.IsDir() {
		abs, err := filepath.Abs(supplied)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", src.Name, err)
		}
		err = checkDir(ctx, src, abs, func(e *verify.MismatchError) {
			if e.Actual == "" && e.Problem == "" {
				e.Meaning = fmt.Sprintf("it is not in %s: the tree is not release %s, or a git checkout without its submodules (git submodule update --init --recursive)", abs, versionOr(src))
			} else {
				e.Meaning = fmt.Sprintf("the file was changed or the tree at %s is not release %s", abs, versionOr(src))
			}
		})
		if err != nil {
			return nil, err
		}
		// Import the checked files into the cache, as an archive's are, so
		// a later run without --source finds them there.
		dest := unpackDir(src, cacheDir)
		if err := installFresh(ctx, src, dest, verify.FormTree, func(tmp string) error {
			return copyTree(ctx, src, abs, tmp)
		}); err != nil {
			return nil, err
		}
		return &Tree{Source: src, Root: dest, Form: verify.FormTree}, nil
	}
	dest := unpackDir(src, cacheDir)
	if err := installFresh(ctx, src, dest, verify.FormArchive, func(tmp string) error {
		return unpack(ctx, src, supplied, tmp)
	}); err != nil {
		return nil, err
	}
	return &Tree{Source: src, Root: dest, Form: verify.FormArchive}, nil
}

func versionOr(src chain.Source) string {
	if src.Version == "" {
		return "the pinned release"
	}
	return src.Version
}

// checkDir checks every pinned file of src under dir; explain may set the
// Meaning of a mismatch.
func checkDir(ctx context.Context, src chain.Source, dir string, explain func(*verify.MismatchError)) error {
	if err := checkTreeSizes(src, dir); err != nil {
		var e *verify.MismatchError
		if errors.As(err, &e) {
			explain(e)
		}
		return err
	}
	results, err := verify.Outputs(dir, src.Files)
	if err != nil {
		return fmt.Errorf("source %s: %w", src.Name, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, r := range results {
		if r.OK {
			continue
		}
		var e *verify.MismatchError
		errors.As(r.Err(""), &e)
		e.Source = src.Name
		explain(e)
		return e
	}
	return nil
}

// installFresh fills a new temporary directory beside dest with fill,
// which must check every pinned file, and moves it to dest. If dest already
// exists (another process was faster, or an earlier run left it) it is
// kept when it still checks out, and replaced otherwise. An exclusive lock
// on the parent directory serialises installs of the same source, so any
// temporary directory found while holding it was left by a killed run and
// is removed.
//
// form (verify.FormArchive or verify.FormTree) is recorded beside dest
// when the fresh copy is installed, so a later run can say what the cached
// files came from.
func installFresh(ctx context.Context, src chain.Source, dest, form string, fill func(tmp string) error) error {
	parent := filepath.Dir(dest)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("source %s: %w", src.Name, err)
	}
	unlock, err := lockDir(ctx, parent)
	if err != nil {
		return fmt.Errorf("source %s: %w", src.Name, err)
	}
	defer unlock()
	cleanTemps(parent)
	tmp, err := os.MkdirTemp(parent, ".tmp-")
	if err != nil {
		return fmt.Errorf("source %s: %w", src.Name, err)
	}
	defer os.RemoveAll(tmp)
	if err := fill(tmp); err != nil {
		return err
	}
	if err := syncDir(tmp); err != nil {
		return fmt.Errorf("source %s: %w", src.Name, err)
	}
	if err := os.Rename(tmp, dest); err == nil {
		return writeForm(src, dest, form)
	}
	// dest exists. Keep it if it is sound, else swap the fresh copy in.
	if checkDir(ctx, src, dest, func(*verify.MismatchError) {}) == nil {
		return nil
	}
	old := tmp + ".old"
	if err := os.Rename(dest, old); err != nil {
		return fmt.Errorf("source %s: replace %s: %w", src.Name, dest, err)
	}
	defer os.RemoveAll(old)
	if err := os.Rename(tmp, dest); err != nil {
		return fmt.Errorf("source %s: replace %s: %w", src.Name, dest, err)
	}
	return writeForm(src, dest, form)
}

// formFile is where the form of the cached files in dir is recorded.
func formFile(dir string) string { return dir + ".form" }

// writeForm records form for dest (atomically) and syncs dest's parent.
func writeForm(src chain.Source, dest, form string) error {
	tmp := filepath.Join(filepath.Dir(dest), ".tmp-form-"+filepath.Base(dest))
	if _, err := writeFile(tmp, strings.NewReader(form+"\n"), 0o644); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("source %s: %w", src.Name, err)
	}
	if err := os.Rename(tmp, formFile(dest)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("source %s: %w", src.Name, err)
	}
	return syncDir(filepath.Dir(dest))
}

// readForm returns the form recorded for the cached files in dir, or ""
// when none is (or it is not one bootchain writes).
func readForm(dir string) string {
	f, err := verify.OpenRegular(formFile(dir))
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 64))
	switch form := strings.TrimSpace(string(b)); form {
	case verify.FormArchive, verify.FormTree:
		return form
	}
	return ""
}

// cleanTemps removes the temporary directories a killed run left in dir.
// The caller holds dir's lock.
func cleanTemps(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// lockDir takes an exclusive flock on dir/.lock, waiting for other
// processes, and returns the function that releases it.
func lockDir(ctx context.Context, dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", dir, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// copyTree copies the pinned files of src from the tree at dir (already
// checked) into tmp, checking each again against its pin as it is copied:
// the tree may change in between.
func copyTree(ctx context.Context, src chain.Source, dir, tmp string) error {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("source %s: %w", src.Name, err)
	}
	defer r.Close()
	for _, p := range sortedPaths(src.Files) {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := verify.OpenRegularIn(r, p)
		if err != nil {
			return fmt.Errorf("source %s: %s: %w", src.Name, p, err)
		}
		mode := fs.FileMode(0o644)
		fi, err := f.Stat()
		if err == nil {
			err = checkSize(src, p, fi.Size(), dir)
		}
		if err != nil {
			f.Close()
			return err
		}
		if fi.Mode()&0o111 != 0 {
			mode = 0o755
		}
		max, _ := bound(src, p)
		got, err := writeFile(filepath.Join(tmp, filepath.FromSlash(p)), io.LimitReader(f, max), mode)
		f.Close()
		if err != nil {
			return fmt.Errorf("source %s: %s: %w", src.Name, p, err)
		}
		if got != src.Files[p] {
			return &verify.MismatchError{Source: src.Name, Path: p, Expected: src.Files[p], Actual: got,
				Meaning: fmt.Sprintf("the file in %s changed while it was copied into the cache", dir)}
		}
	}
	return nil
}

// copyLocal copies the pinned files of a local source from src.Local into
// dir, checking each against its pin.
func copyLocal(ctx context.Context, src chain.Source, dir string) error {
	for _, p := range sortedPaths(src.Files) {
		if err := ctx.Err(); err != nil {
			return err
		}
		where := "the chain's local source directory"
		if src.LocalDir != "" {
			where = src.LocalDir + "/"
		}
		f, err := src.Local.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			return &verify.MismatchError{Source: src.Name, Path: p, Expected: src.Files[p],
				Meaning: "it is not in " + where}
		}
		if err != nil {
			return fmt.Errorf("source %s: %w", src.Name, err)
		}
		mode := fs.FileMode(0o644)
		if fi, err := f.Stat(); err == nil {
			if !fi.Mode().IsRegular() {
				f.Close()
				return fmt.Errorf("source %s: %s: not a regular file", src.Name, p)
			}
			if err := checkSize(src, p, fi.Size(), where); err != nil {
				f.Close()
				return err
			}
			if fi.Mode()&0o111 != 0 {
				mode = 0o755
			}
		}
		max, _ := bound(src, p)
		got, err := writeFile(filepath.Join(dir, filepath.FromSlash(p)), io.LimitReader(f, max), mode)
		f.Close()
		if err != nil {
			return fmt.Errorf("source %s: %s: %w", src.Name, p, err)
		}
		if got != src.Files[p] {
			return &verify.MismatchError{Source: src.Name, Path: p, Expected: src.Files[p], Actual: got,
				Meaning: "the file in " + where + " was changed"}
		}
	}
	return nil
}

// writeFile creates name (and its parents) with the contents of r, syncs
// it, and returns the SHA-256 of what was written.
func writeFile(name string, r io.Reader, mode fs.FileMode) (string, error) {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return "", err
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), r); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// MissingErrors reports several sources that are not available, with one
// list of what to do for all of them.
type MissingErrors []*MissingError

// Is reports whether target is ErrMissing or fs.ErrNotExist.
func (es MissingErrors) Is(target error) bool {
	return target == ErrMissing || target == fs.ErrNotExist
}

func (es MissingErrors) Error() string {
	if len(es) == 1 {
		return es[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d sources are not available:", len(es))
	for i, e := range es {
		sep := ","
		if i == 0 {
			sep = ""
		}
		fmt.Fprintf(&b, "%s %s", sep, e.Source.Name)
		if len(e.Source.URLs) > 0 {
			fmt.Fprintf(&b, " (%s", ArchivePath(e.Source, e.CacheDir))
			if e.Cause != "" {
				fmt.Fprintf(&b, ": %s", oneLine(e.Cause))
			}
			b.WriteString(")")
		}
	}
	b.WriteString(". For each, either\n")
	for _, e := range es {
		_, rest, _ := strings.Cut(e.Error(), "\n")
		fmt.Fprintf(&b, "  %s:\n", e.Source.Name)
		for _, l := range strings.Split(rest, "\n") {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// ErrMissing is matched (with errors.Is) by a *MissingError.
var ErrMissing = errors.New("source not available")

// MissingError reports a source that neither --source, the chain nor the
// cache provides. Its message says which file is missing, where to put it
// and which commands fetch it.
type MissingError struct {
	Source   chain.Source
	CacheDir string
	// Chain is the chain's name for the suggested commands; the caller may
	// set it (errors.As) before printing. Empty leaves --chain out.
	Chain string
	// Until and Unverified, when set, go into the suggested fetch command
	// (--until STEP, --unverified): a plain fetch gets only what a plain run
	// needs, so a source first used later needs them.
	Until      string
	Unverified bool
	// Cause, when not empty, says why fetch could not get the archive
	// ("the download failed: URL: ..."), on the same line.
	Cause string
	// Err is the error behind Cause, if any (errors.Is and errors.As see it).
	Err error
	// Step, when not empty, is the step that needs the source; the message
	// starts with "step STEP: ".
	Step string
}

// Unwrap returns the error behind Cause.
func (e *MissingError) Unwrap() error { return e.Err }

// Is reports whether target is ErrMissing or fs.ErrNotExist.
func (e *MissingError) Is(target error) bool { return target == ErrMissing || target == fs.ErrNotExist }

func (e *MissingError) Error() string {
	src := e.Source
	var b strings.Builder
	if e.Step != "" {
		fmt.Fprintf(&b, "step %s: ", e.Step)
	}
	name := src.Name
	if src.Version != "" {
		name += " " + src.Version
	}
	chainFlag := ""
	if e.Chain != "" {
		chainFlag = " --chain " + e.Chain
	}
	if e.Until != "" {
		chainFlag += " --until " + e.Until
	}
	if e.Unverified {
		chainFlag += " --unverified"
	}
	if len(src.URLs) == 0 {
		fmt.Fprintf(&b, "source %s is not available: it has no URL, so supply it with --source %s=PATH (an archive or an unpacked tree)", name, src.Name)
		return b.String()
	}
	archive := ArchivePath(src, e.CacheDir)
	fmt.Fprintf(&b, "source %s is not available: %s does not exist", name, archive)
	if _, err := os.Stat(archive + ".part"); err == nil {
		fmt.Fprintf(&b, " (a partial download is at %s.part)", archive)
	}
	if e.Cause != "" {
		fmt.Fprintf(&b, "; %s", oneLine(e.Cause))
	}
	b.WriteString(". Either\n")
	fmt.Fprintf(&b, "  - download it: bootchain fetch%s   (from %s)\n", chainFlag, strings.Join(src.URLs, ", "))
	fmt.Fprintf(&b, "  - or, offline: copy %s", ArchiveName(src))
	if src.ArchiveSHA256 != "" {
		fmt.Fprintf(&b, " (sha256 %s)", src.ArchiveSHA256)
	}
	fmt.Fprintf(&b, " into a directory DIR and run: bootchain fetch%s --from DIR\n", chainFlag)
	if src.Place != "" {
		fmt.Fprintf(&b, "  - or supply the archive itself: --source %s=PATH", src.Name)
		return b.String()
	}
	fmt.Fprintf(&b, "  - or supply the release as an archive or an unpacked tree (a git checkout with submodules): --source %s=PATH", src.Name)
	return b.String()
}
