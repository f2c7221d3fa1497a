package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/verify"
)

// HTTPClient is the client Fetch uses. It has no overall timeout: a
// download is bounded by the caller's context.
var HTTPClient = &http.Client{}

// Fetch makes sure src's archive is in the cache under cacheDir and returns
// its path. It tries src's URLs in order, hashing while it streams into
// ARCHIVE.part; a .part left by an interrupted download is resumed with a
// Range request. A finished download is checked against the archive pin
// or, when the chain pins no archive, by unpacking and checking every
// pinned file; a file that does not match is deleted and the next mirror
// tried, so the cache never holds a bad archive. An archive already in the
// cache is checked the same way and kept if it matches.
//
// Progress goes to progress (which may be nil): a live line when it is a
// terminal, plain lines otherwise. A local source has nothing to fetch:
// Fetch returns "" and no error. Cancelling ctx stops the download and
// removes the .part: an interrupted command leaves nothing behind (a
// download cut by the network is kept and resumed).
func Fetch(ctx context.Context, src chain.Source, cacheDir string, progress io.Writer) (string, error) {
	if src.Local != nil {
		return "", nil
	}
	if len(src.URLs) == 0 {
		return "", fmt.Errorf("source %s: no URL to fetch from; supply it with --source %s=PATH", src.Name, src.Name)
	}
	if progress == nil {
		progress = io.Discard
	}
	dest := ArchivePath(src, cacheDir)
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return "", fmt.Errorf("source %s: %w", src.Name, err)
	}
	if _, err := os.Stat(dest); err == nil {
		sum, err := verify.File(dest)
		if err != nil {
			return "", fmt.Errorf("source %s: %w", src.Name, err)
		}
		if err := checkArchive(ctx, src, dest, sum, cacheDir); err == nil {
			fmt.Fprintf(progress, "%s: %s is in the cache and matches its pins\n", src.Name, ArchiveName(src))
			return dest, nil
		} else if ctx.Err() != nil {
			return "", ctx.Err()
		} else {
			fmt.Fprintf(progress, "%s: removing cached %s: %v\n", src.Name, ArchiveName(src), err)
			if err := os.Remove(dest); err != nil {
				return "", fmt.Errorf("source %s: %w", src.Name, err)
			}
		}
	}
	part := dest + ".part"
	var errs []error
	for _, u := range src.URLs {
		for attempt := 0; attempt < 2; attempt++ {
			resumed := false
			if fi, err := os.Stat(part); err == nil && fi.Size() > 0 {
				resumed = true
			}
			sum, err := download(ctx, src, u, part, progress)
			if err != nil {
				if ctx.Err() != nil {
					// Interrupted: leave nothing behind.
					os.Remove(part)
					return "", fmt.Errorf("source %s: fetch %s: %w", src.Name, u, ctx.Err())
				}
				// Keep a partial download to resume, never an empty file.
				if fi, err := os.Stat(part); err == nil && fi.Size() == 0 {
					os.Remove(part)
				}
				errs = append(errs, fmt.Errorf("%s: %w", u, downloadError(err)))
				break
			}
			err = checkArchive(ctx, src, part, sum, cacheDir)
			if err == nil {
				if err := os.Rename(part, dest); err != nil {
					return "", fmt.Errorf("source %s: %w", src.Name, err)
				}
				if err := syncDir(filepath.Dir(dest)); err != nil {
					return "", fmt.Errorf("source %s: %w", src.Name, err)
				}
				return dest, nil
			}
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			// Never keep a file that does not match.
			os.Remove(part)
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
			fmt.Fprintf(progress, "%s: %s from %s does not match, deleted: %v\n", src.Name, ArchiveName(src), u, err)
			if !resumed {
				break
			}
			// The resumed prefix may have been the bad part: start over once.
		}
	}
	var causes []string
	for _, e := range errs {
		causes = append(causes, e.Error())
	}
	what := "the download failed"
	if len(src.URLs) > 1 {
		what = "no mirror gave a matching copy"
	}
	return "", &MissingError{Source: src, CacheDir: cacheDir, Cause: what + ": " + strings.Join(causes, "; "), Err: errors.Join(errs...)}
}

// downloadError says why a request failed without the request's own
// restatement of the URL (net/http says `Get "URL": ...`).
func downloadError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// checkArchive checks a downloaded or imported archive whose SHA-256 is
// sum: against the archive pin if the chain has one, else by unpacking its
// pinned files into the cache (which Open then uses).
func checkArchive(ctx context.Context, src chain.Source, name, sum, cacheDir string) error {
	if src.ArchiveSHA256 != "" {
		if sum != src.ArchiveSHA256 {
			return &verify.MismatchError{Source: src.Name, Path: ArchiveName(src), Expected: src.ArchiveSHA256, Actual: sum,
				Meaning: "the file is not the pinned archive"}
		}
		return nil
	}
	return installFresh(ctx, src, unpackDir(src, cacheDir), verify.FormArchive, func(tmp string) error {
		return unpack(ctx, src, name, tmp)
	})
}

// download appends what url serves to part (resuming from its current size
// with a Range request) and returns the SHA-256 of the whole file.
func download(ctx context.Context, src chain.Source, rawURL, part string, progress io.Writer) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("unsupported URL scheme %q (want http or https)", u.Scheme)
	}
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return "", err
	} else if !fi.Mode().IsRegular() {
		return "", &verify.NotRegularError{Path: part, Mode: fi.Mode()}
	}
	h := sha256.New()
	have, err := io.Copy(h, f) // hash what an earlier download left
	if err != nil {
		return "", fmt.Errorf("read %s: %w", part, err)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("User-Agent", "bootchain")
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
		// Compressed transfer encodings would make byte offsets meaningless.
		req.Header.Set("Accept-Encoding", "identity")
	}
	resp, err := HTTPClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()

	total := int64(-1)
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		start, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != have {
			return "", fmt.Errorf("server answered a request for bytes %d- with Content-Range %q", have, resp.Header.Get("Content-Range"))
		}
		total = size
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0:
		// The partial file is already as long as the archive: check it.
		return hex.EncodeToString(h.Sum(nil)), nil
	case resp.StatusCode == http.StatusOK:
		// A fresh download, or the server ignored Range: start over.
		if err := f.Truncate(0); err != nil {
			return "", err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return "", err
		}
		h.Reset()
		have = 0
		total = resp.ContentLength
	default:
		return "", fmt.Errorf("HTTP %s", resp.Status)
	}

	// A pinned archive size bounds the download: a server that sends
	// more is cut off at one byte past it. Without one, MaxUnsizedFile
	// does.
	max, limit := src.ArchiveSize, fmt.Sprintf("the archive's pinned size is %d bytes", src.ArchiveSize)
	if max <= 0 {
		max, limit = MaxUnsizedFile, fmt.Sprintf("an archive without a pinned size may have %d bytes at most", int64(MaxUnsizedFile))
	}
	if total > max {
		return "", fmt.Errorf("the server announces %d bytes; %s", total, limit)
	}
	body := io.LimitReader(resp.Body, max-have+1)
	p := newMeter(progress, src.Name, rawURL, have, total)
	n, err := io.Copy(io.MultiWriter(f, h, p), body)
	serr := f.Sync()
	p.done(err)
	if err == nil && have+n > max {
		os.Remove(part) // not a prefix of the archive: nothing to resume
		return "", fmt.Errorf("the server sent more than that; %s", limit)
	}
	if err != nil {
		return "", fmt.Errorf("download interrupted after %d bytes: %w", have+n, err)
	}
	if serr != nil {
		return "", serr
	}
	if total >= 0 && have+n != total {
		return "", fmt.Errorf("download ended at %d of %d bytes", have+n, total)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// parseContentRange parses "bytes START-END/SIZE" (SIZE may be "*", then -1).
func parseContentRange(s string) (start, size int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, sz, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	a, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false
	}
	if sz == "*" {
		return start, -1, true
	}
	size, err = strconv.ParseInt(sz, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return start, size, true
}

// Import copies src's archive from fromDir (a directory of distfiles, for
// offline machines) into the cache under cacheDir and returns its path.
// It is Distfiles.Import for one source; see there.
func Import(src chain.Source, fromDir, cacheDir string) (string, error) {
	return NewDistfiles(fromDir).Import(context.Background(), src, cacheDir)
}

// Distfiles is a directory of archives to import from (fetch --from DIR).
// It remembers the SHA-256 of every file it has hashed, so importing many
// sources hashes each file at most once.
type Distfiles struct {
	Dir  string
	sums map[string]string // path -> sha256, files hashed so far
	all  []fileInfo        // every regular file under Dir, once listed
}

type fileInfo struct {
	path string
	size int64
}

// NewDistfiles returns the distfiles directory dir.
func NewDistfiles(dir string) *Distfiles {
	return &Distfiles{Dir: dir, sums: map[string]string{}}
}

// sum returns the SHA-256 of the file at p, hashing it once.
func (d *Distfiles) sum(p string) (string, error) {
	if s, ok := d.sums[p]; ok {
		return s, nil
	}
	s, err := verify.File(p)
	if err != nil {
		return "", err
	}
	d.sums[p] = s
	return s, nil
}

// files lists the regular files under Dir (subdirectories included).
func (d *Distfiles) files() []fileInfo {
	if d.all != nil {
		return d.all
	}
	d.all = []fileInfo{}
	filepath.WalkDir(d.Dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return nil
		}
		if fi, err := e.Info(); err == nil {
			d.all = append(d.all, fileInfo{p, fi.Size()})
		}
		return nil
	})
	return d.all
}

// Import copies src's archive from the directory into the cache under
// cacheDir and returns its path. The archive is looked for under
// ArchiveName(src) and the last element of each URL, and, when the chain
// pins the archive's SHA-256, among all the files under the directory by
// that SHA-256 (only files of the pinned archive-size are hashed, when it
// is pinned, and none larger than MaxUnsizedFile when it is not). A candidate is hashed as a stream before it is copied, and
// a source with only per-file pins is checked by unpacking it in place
// first, so only a matching file is ever copied into the cache. When none
// is found the error is a *MissingError saying what was looked for. A
// local source has nothing to import ("", nil).
func (d *Distfiles) Import(ctx context.Context, src chain.Source, cacheDir string) (string, error) {
	if src.Local != nil {
		return "", nil
	}
	names := []string{}
	seen := map[string]bool{}
	for _, n := range append([]string{ArchiveName(src)}, urlBases(src.URLs)...) {
		if n != "" && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "", fmt.Errorf("source %s: no URL, so no archive name to import; supply it with --source %s=PATH", src.Name, src.Name)
	}
	var from string
	var refused error // a file found by name that does not match
	for _, n := range names {
		p := filepath.Join(d.Dir, n)
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		err := d.check(ctx, src, p, cacheDir)
		if err == nil {
			from = p
			break
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if refused == nil {
			refused = fmt.Errorf("import %s: %w", p, err)
		}
	}
	if from == "" && src.ArchiveSHA256 != "" {
		for _, f := range d.files() {
			if src.ArchiveSize > 0 && f.size != src.ArchiveSize || src.ArchiveSize == 0 && f.size > MaxUnsizedFile {
				continue
			}
			if s, err := d.sum(f.path); err == nil && s == src.ArchiveSHA256 {
				from = f.path
				break
			}
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
		}
	}
	if from == "" {
		if refused != nil {
			return "", refused
		}
		cause := fmt.Sprintf("%s has no file named %s", d.Dir, strings.Join(names, " or "))
		if src.ArchiveSHA256 != "" {
			cause += fmt.Sprintf(", nor any with sha256 %s", src.ArchiveSHA256)
		}
		return "", &MissingError{Source: src, CacheDir: cacheDir, Cause: cause}
	}
	dest := ArchivePath(src, cacheDir)
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return "", fmt.Errorf("source %s: %w", src.Name, err)
	}
	in, err := verify.OpenRegular(from)
	if err != nil {
		return "", fmt.Errorf("source %s: %w", src.Name, err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".import-*")
	if err != nil {
		return "", fmt.Errorf("source %s: %w", src.Name, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), in); err != nil {
		return "", fmt.Errorf("source %s: import %s: %w", src.Name, from, err)
	}
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("source %s: %w", src.Name, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("source %s: %w", src.Name, err)
	}
	// The copy is checked again: the file may have changed since.
	if err := checkArchive(ctx, src, tmp.Name(), hex.EncodeToString(h.Sum(nil)), cacheDir); err != nil {
		return "", fmt.Errorf("import %s: %w", from, err)
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return "", fmt.Errorf("source %s: %w", src.Name, err)
	}
	if err := syncDir(filepath.Dir(dest)); err != nil {
		return "", fmt.Errorf("source %s: %w", src.Name, err)
	}
	return dest, nil
}

// check checks the file at p in place, before any copy: its size and
// SHA-256 against the archive pins, or, without an archive pin, its
// pinned files by unpacking it (into the cache, where Open finds them).
func (d *Distfiles) check(ctx context.Context, src chain.Source, p, cacheDir string) error {
	if fi, err := os.Stat(p); err == nil {
		switch {
		case src.ArchiveSize > 0 && fi.Size() != src.ArchiveSize:
			return &verify.MismatchError{Source: src.Name, Path: filepath.Base(p), Expected: src.ArchiveSHA256,
				Problem: fmt.Sprintf("%d bytes, pinned size %d", fi.Size(), src.ArchiveSize), Meaning: "the file is not the pinned archive"}
		case src.ArchiveSize == 0 && fi.Size() > MaxUnsizedFile:
			return &verify.MismatchError{Source: src.Name, Path: filepath.Base(p), Expected: src.ArchiveSHA256,
				Problem: fmt.Sprintf("%d bytes, more than an archive without a pinned size may have (%d)", fi.Size(), MaxUnsizedFile),
				Meaning: "it was refused before it was read"}
		}
	}
	if src.ArchiveSHA256 == "" {
		return checkArchive(ctx, src, p, "", cacheDir)
	}
	s, err := d.sum(p)
	if err != nil {
		return err
	}
	return checkArchive(ctx, src, p, s, cacheDir)
}

func urlBases(urls []string) []string {
	var bs []string
	for _, u := range urls {
		bs = append(bs, urlBase(u))
	}
	return bs
}
