// Package store is the content-addressed cache of verified step outputs. A
// step's outputs, once every pin has matched, are stored as blobs named by
// their SHA-256 and recorded under the step's key (a hash of its
// definition, the seeds and its inputs, computed by the engine). A later
// run with the same key places the files into its step root instead of
// running the step, re-hashing every blob on the way, so a damaged cache is
// caught, never trusted. Layout under the store directory:
//
//	blobs/ab/abcdef...   one read-only file per distinct content (ab = first two hex digits)
//	steps/KEY.json       the entry: each output's path, sha256, mode and size
//
// Blobs and entries are written to a temporary file in the same directory,
// synced and renamed, and an entry only after all its blobs, so a crash
// never leaves a partial blob or entry visible; temporary files a crash
// leaves behind are ignored and removed by the next Open.
package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/bootchain/bootchain/verify"
)

// Store is a step-output cache in one directory.
type Store struct {
	dir string
}

// Entry is what the store holds for one step key.
type Entry struct {
	Key   string
	Files map[string]string      // path (slash, relative to the step root) -> sha256
	Modes map[string]fs.FileMode // path -> permission bits: 0755 for executables, else 0644
	// Sizes holds each file's size in bytes: Materialize copies no more
	// than that from a blob.
	Sizes map[string]int64
}

// entryFile is an entry's JSON form: files sorted by path.
type entryFile struct {
	Format int         `json:"format"`
	Key    string      `json:"key"`
	Files  []entryItem `json:"files"`
}

type entryItem struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Mode   string `json:"mode"` // octal, "0755" or "0644"
	Size   int64  `json:"size"`
}

const entryFormat = 1

// maxEntrySize bounds an entry file: a step with a few thousand outputs
// takes a few hundred KiB.
const maxEntrySize = 64 << 20

const tmpPrefix = ".tmp-"

var keyRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Open opens (creating if needed) the store in dir, usually CACHE/store.
// When no other process is writing to the store it removes the temporary
// files that an interrupted Put left behind.
func Open(dir string) (*Store, error) {
	for _, d := range []string{dir, filepath.Join(dir, "blobs"), filepath.Join(dir, "steps")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	s := &Store{dir: dir}
	if err := s.cleanTemps(); err != nil {
		return nil, fmt.Errorf("store %s: %w", dir, err)
	}
	return s, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) entryPath(key string) string {
	return filepath.Join(s.dir, "steps", key+".json")
}

func (s *Store) blobPath(sum string) string {
	return filepath.Join(s.dir, "blobs", sum[:2], sum)
}

// lock takes a flock on the store's lock file: shared while writing,
// exclusive (and only if free at once) for cleaning. It returns the
// function that releases it, or ok=false if a non-blocking lock was busy.
func (s *Store) lock(how int) (unlock func(), ok bool, err error) {
	f, err := os.OpenFile(filepath.Join(s.dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			break
		}
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		f.Close()
		return nil, false, nil
	}
	if err != nil {
		f.Close()
		return nil, false, fmt.Errorf("lock: %w", err)
	}
	return func() { f.Close() }, true, nil
}

// cleanTemps removes leftover temporary files, but only when it can take
// the store's lock exclusively: then no Put is running in any process, and
// every temporary file is a crash's leftover.
func (s *Store) cleanTemps() error {
	unlock, ok, err := s.lock(syscall.LOCK_EX | syscall.LOCK_NB)
	if err != nil || !ok {
		return err
	}
	defer unlock()
	dirs := []string{filepath.Join(s.dir, "steps")}
	shards, _ := filepath.Glob(filepath.Join(s.dir, "blobs", "??"))
	dirs = append(dirs, shards...)
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), tmpPrefix) {
				if err := os.Remove(filepath.Join(d, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
			}
		}
	}
	return nil
}

func checkKey(key string) error {
	if !keyRE.MatchString(key) {
		return fmt.Errorf("store: key %q: expected 1-128 letters, digits, '.', '_' or '-'", key)
	}
	return nil
}

// Get returns the entry stored under key; found is false (and the error
// nil) when there is none. A malformed entry is an error naming its file.
func (s *Store) Get(key string) (e Entry, found bool, err error) {
	if err := checkKey(key); err != nil {
		return Entry{}, false, err
	}
	name := s.entryPath(key)
	b, err := verify.ReadRegular(name, maxEntrySize)
	if errors.Is(err, fs.ErrNotExist) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("store: %w; remove it to rebuild the step, or run with --no-cache", err)
	}
	e, err = decodeEntry(key, b)
	if err != nil {
		return Entry{}, false, fmt.Errorf("store: entry %s is damaged (remove it to rebuild the step): %w", name, err)
	}
	return e, true, nil
}

func decodeEntry(key string, b []byte) (Entry, error) {
	var ef entryFile
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ef); err != nil {
		return Entry{}, err
	}
	if ef.Format != entryFormat {
		return Entry{}, fmt.Errorf("format %d, expected %d", ef.Format, entryFormat)
	}
	if ef.Key != key {
		return Entry{}, fmt.Errorf("key %q, expected %q", ef.Key, key)
	}
	e := Entry{Key: key, Files: map[string]string{}, Modes: map[string]fs.FileMode{}, Sizes: map[string]int64{}}
	for _, it := range ef.Files {
		if c, err := verify.CleanPath(it.Path); err != nil || c != it.Path {
			return Entry{}, fmt.Errorf("path %q is not a clean relative path", it.Path)
		}
		if !verify.IsSHA256(it.SHA256) {
			return Entry{}, fmt.Errorf("%s: sha256 %q is not 64 lower-case hex digits", it.Path, it.SHA256)
		}
		m, err := strconv.ParseUint(it.Mode, 8, 32)
		if err != nil || (m != 0o644 && m != 0o755) {
			return Entry{}, fmt.Errorf("%s: mode %q, expected 0644 or 0755", it.Path, it.Mode)
		}
		if _, dup := e.Files[it.Path]; dup {
			return Entry{}, fmt.Errorf("%s is listed twice", it.Path)
		}
		if it.Size < 0 {
			return Entry{}, fmt.Errorf("%s: size %d, expected a size in bytes", it.Path, it.Size)
		}
		e.Files[it.Path] = it.SHA256
		e.Modes[it.Path] = fs.FileMode(m)
		e.Sizes[it.Path] = it.Size
	}
	return e, nil
}

// Put stores the files (path -> sha256, already verified by the caller) of
// root under key: each file is copied into its blob, its hash checked
// again while copying, and the entry is written last. A file that no
// longer matches its sha256 is a *verify.MismatchError and nothing is
// recorded under key. Several processes may Put the same key at once.
func (s *Store) Put(key, root string, files map[string]string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	unlock, _, err := s.lock(syscall.LOCK_SH)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer unlock()

	r, err := os.OpenRoot(root)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer r.Close()
	ef := entryFile{Format: entryFormat, Key: key, Files: []entryItem{}}
	for _, p := range sortedPaths(files) {
		if c, err := verify.CleanPath(p); err != nil || c != p {
			return fmt.Errorf("store: put %s: path %q is not a clean relative path", key, p)
		}
		want := strings.ToLower(files[p])
		if !verify.IsSHA256(want) {
			return fmt.Errorf("store: put %s: %s: sha256 %q is not 64 hex digits", key, p, files[p])
		}
		item, err := s.putFile(r, root, p, want)
		if err != nil {
			return err
		}
		ef.Files = append(ef.Files, item)
	}
	b, err := json.MarshalIndent(&ef, "", "  ")
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := writeAtomic(filepath.Join(s.dir, "steps"), key+".json", 0o644, func(f *os.File) error {
		_, err := f.Write(append(b, '\n'))
		return err
	}); err != nil {
		return fmt.Errorf("store: put %s: %w", key, err)
	}
	return nil
}

// putFile copies root/p into its blob unless a sound blob is already there.
func (s *Store) putFile(r *os.Root, root, p, want string) (entryItem, error) {
	// Stat, not Lstat: verify.Outputs follows a symlink that stays inside
	// the root, and so does Put (storing the content as a regular file).
	fi, err := r.Stat(p)
	if err != nil {
		return entryItem{}, fmt.Errorf("store: put %s: %w", p, err)
	}
	if !fi.Mode().IsRegular() {
		return entryItem{}, fmt.Errorf("store: put %s: not a regular file (%v)", p, fi.Mode().Type())
	}
	item := entryItem{Path: p, SHA256: want, Mode: "0644", Size: fi.Size()}
	if fi.Mode()&0o111 != 0 {
		item.Mode = "0755"
	}
	blob := s.blobPath(want)
	// A blob of another size is damaged: rewrite it without hashing it.
	if bi, err := os.Lstat(blob); err == nil && bi.Mode().IsRegular() && bi.Size() == fi.Size() {
		if got, err := verify.File(blob); err == nil && got == want {
			return item, nil
		}
	}
	// Missing or damaged: (re)write it from the step's file.
	in, err := verify.OpenRegularIn(r, p)
	if err != nil {
		return entryItem{}, fmt.Errorf("store: put %s: %w", p, err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
		return entryItem{}, fmt.Errorf("store: %w", err)
	}
	var got string
	var n int64
	err = writeAtomic(filepath.Dir(blob), filepath.Base(blob), 0o444, func(f *os.File) error {
		h := sha256.New()
		var err error
		if n, err = io.Copy(io.MultiWriter(f, h), in); err != nil {
			return err
		}
		got = hex.EncodeToString(h.Sum(nil))
		if got != want {
			return &verify.MismatchError{Path: p, Expected: want, Actual: got,
				Meaning: fmt.Sprintf("the file in %s changed after it was verified; it was not stored", root)}
		}
		return nil
	})
	if err != nil {
		var me *verify.MismatchError
		if errors.As(err, &me) {
			return entryItem{}, err
		}
		return entryItem{}, fmt.Errorf("store: put %s: %w", p, err)
	}
	item.Size = n
	return item, nil
}

// Delete removes the entry stored under key (its blobs stay: other entries
// may share them). Deleting a missing key is not an error.
func (s *Store) Delete(key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := os.Remove(s.entryPath(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// Materialize places e's files into root at their paths (creating
// directories), with their modes, re-hashing each blob as it is copied. A
// blob that no longer matches, or is missing, is a *verify.MismatchError
// naming the file and the cached blob; the file is then not left in root.
// An existing file at a path is replaced. The error's Step is empty: the
// caller knows the step and may set it (errors.As) or wrap the error.
func (s *Store) Materialize(e Entry, root string) error {
	return s.MaterializeContext(context.Background(), e, root)
}

// MaterializeContext is Materialize with cancellation between files.
func (s *Store) MaterializeContext(ctx context.Context, e Entry, root string) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer r.Close()
	for _, p := range sortedPaths(e.Files) {
		if err := ctx.Err(); err != nil {
			return err
		}
		size, ok := e.Sizes[p]
		if !ok {
			size = -1
		}
		if err := s.place(r, p, e.Files[p], e.Modes[p], size); err != nil {
			return err
		}
	}
	return nil
}

// place copies the blob of sum to p in r, hashing it on the way; size,
// unless negative, is the entry's size of the file: a blob of another size
// is refused before it is read, and no more than size bytes are copied.
func (s *Store) place(r *os.Root, p, sum string, mode fs.FileMode, size int64) error {
	if c, err := verify.CleanPath(p); err != nil || c != p {
		return fmt.Errorf("store: materialize: path %q is not a clean relative path", p)
	}
	if !verify.IsSHA256(sum) {
		return fmt.Errorf("store: materialize %s: sha256 %q is not 64 lower-case hex digits", p, sum)
	}
	if mode == 0 {
		mode = 0o644
	}
	blob := s.blobPath(sum)
	in, err := verify.OpenRegular(blob)
	if errors.Is(err, fs.ErrNotExist) {
		return &verify.MismatchError{Path: p, Expected: sum,
			Meaning: fmt.Sprintf("the cached blob %s is missing; the cache was damaged: run with --no-cache or remove %s", blob, s.dir)}
	}
	var nr *verify.NotRegularError
	if errors.As(err, &nr) {
		return &verify.MismatchError{Path: p, Expected: sum, Problem: "cached as " + verify.KindOf(nr.Mode) + ", not a regular file",
			Meaning: fmt.Sprintf("the cached blob %s was replaced; delete it, or run with --no-cache", blob)}
	}
	if err != nil {
		return fmt.Errorf("store: materialize %s: %w", p, err)
	}
	defer in.Close()
	var src io.Reader = in
	if size >= 0 {
		fi, err := in.Stat()
		if err != nil {
			return fmt.Errorf("store: materialize %s: %w", p, err)
		}
		if fi.Size() != size {
			return &verify.MismatchError{Path: p, Expected: sum,
				Problem: fmt.Sprintf("the cached blob holds %d bytes, the entry says %d", fi.Size(), size),
				Meaning: fmt.Sprintf("the cached blob %s was changed after it was stored; delete it, or run with --no-cache", blob)}
		}
		// A blob that grows while it is copied stops at its size (and
		// then fails its hash).
		src = io.LimitReader(in, size)
	}
	if dir := path.Dir(p); dir != "." {
		if err := r.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("store: materialize %s: %w", p, err)
		}
	}
	tmp := path.Join(path.Dir(p), tmpPrefix+randomName())
	out, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("store: materialize %s: %w", p, err)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, h), src)
	if err == nil {
		err = out.Chmod(mode)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.Remove(tmp)
		return fmt.Errorf("store: materialize %s: %w", p, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		r.Remove(tmp)
		return &verify.MismatchError{Path: p, Expected: sum, Actual: got,
			Meaning: fmt.Sprintf("the cached blob %s was changed after it was stored; delete it, or run with --no-cache", blob)}
	}
	if err := r.Rename(tmp, p); err != nil {
		r.Remove(tmp)
		return fmt.Errorf("store: materialize %s: %w", p, err)
	}
	return nil
}

// writeAtomic creates dir/name through a temporary file in dir that fill
// writes; the file is synced, given perm and renamed, and dir synced. If
// fill fails nothing is left.
func writeAtomic(dir, name string, perm fs.FileMode, fill func(*os.File) error) (err error) {
	f, err := os.CreateTemp(dir, tmpPrefix)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = fill(f); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func randomName() string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b[:])
}

func sortedPaths(m map[string]string) []string {
	ps := make([]string, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}
