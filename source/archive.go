package source

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ulikunitz/xz"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/verify"
)

// maxLinkPasses bounds how many times an archive is re-read to resolve
// pinned files that are links to files not yet unpacked.
const maxLinkPasses = 8

// unpack writes the pinned files of src from the archive at name into dir
// and checks each against its pin. Only pinned files are written. An entry
// with an absolute path or a ".." element makes the whole archive refused;
// a pinned file that is a link is resolved inside the archive, and refused
// if it leads outside the source root.
func unpack(ctx context.Context, src chain.Source, name, dir string) error {
	if src.Place != "" {
		return placeArchive(src, name, dir)
	}
	// want maps a path in the source root (after strip) to the pinned
	// paths that take its contents.
	want := map[string][]string{}
	for p := range src.Files {
		want[p] = []string{p}
	}
	got := map[string]string{} // pinned path -> sha256 written
	for pass := 0; len(want) > 0; pass++ {
		if pass == maxLinkPasses {
			var dests []string
			for _, ds := range want {
				dests = append(dests, ds...)
			}
			sort.Strings(dests)
			return fmt.Errorf("source %s: %s: pinned %s is a link that does not lead to a file (a cycle, or more than %d links)",
				src.Name, name, dests[0], maxLinkPasses-1)
		}
		next, err := unpackPass(ctx, src, name, dir, want, got)
		if err != nil {
			return err
		}
		want = next
	}
	for _, p := range sortedPaths(src.Files) {
		sum, ok := got[p]
		if !ok {
			return &verify.MismatchError{Source: src.Name, Path: p, Expected: src.Files[p],
				Meaning: fmt.Sprintf("it is not in %s: the archive is not release %s, or strip %d is wrong", name, versionOr(src), src.Strip)}
		}
		if sum != src.Files[p] {
			return &verify.MismatchError{Source: src.Name, Path: p, Expected: src.Files[p], Actual: sum,
				Meaning: fmt.Sprintf("the file was changed or %s is not release %s", name, versionOr(src))}
		}
	}
	return nil
}

// unpackPass reads the archive once, writing each wanted regular file to
// the pinned paths that want it, and returns what is still wanted: the
// targets of wanted entries that are links.
func unpackPass(ctx context.Context, src chain.Source, name, dir string, want map[string][]string, got map[string]string) (map[string][]string, error) {
	f, err := verify.OpenRegular(name)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", src.Name, err)
	}
	defer f.Close()
	r, err := decompress(f)
	if err != nil {
		return nil, fmt.Errorf("source %s: %s: %w", src.Name, name, err)
	}
	next := map[string][]string{}
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("source %s: %s: not a readable tar archive: %w", src.Name, name, err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader || hdr.Typeflag == tar.TypeXHeader {
			continue
		}
		rel, err := entryPath(hdr.Name, src.Strip)
		if err != nil {
			return nil, fmt.Errorf("source %s: %s: refused: %w", src.Name, name, err)
		}
		dests, ok := want[rel]
		if rel == "" || !ok {
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			// The header says how much the entry expands to (a sparse
			// entry's holes included): refuse it before reading a byte.
			for _, d := range dests {
				if err := checkSize(src, d, hdr.Size, name); err != nil {
					return nil, err
				}
			}
			mode := fs.FileMode(0o644)
			if hdr.Mode&0o111 != 0 {
				mode = 0o755
			}
			// Later entries for the same path replace earlier ones, as tar does.
			var data io.Reader = tr
			var buf []byte
			if len(dests) > 1 {
				if buf, err = io.ReadAll(tr); err != nil {
					return nil, fmt.Errorf("source %s: %s: %s: %w", src.Name, name, hdr.Name, err)
				}
			}
			for _, d := range dests {
				if buf != nil {
					data = bytes.NewReader(buf)
				}
				sum, err := writeFile(filepath.Join(dir, filepath.FromSlash(d)), data, mode)
				if err != nil {
					return nil, fmt.Errorf("source %s: %s: %w", src.Name, d, err)
				}
				got[d] = sum
			}
			delete(next, rel)
		case tar.TypeSymlink, tar.TypeLink:
			target, err := linkTarget(rel, hdr, src.Strip)
			if err != nil {
				return nil, fmt.Errorf("source %s: %s: refused: %w", src.Name, name, err)
			}
			next[target] = append(next[target], dests...)
		default:
			return nil, fmt.Errorf("source %s: %s: pinned %s is not a regular file (tar type %q)", src.Name, name, rel, hdr.Typeflag)
		}
	}
	// A pinned file already written needs no link resolution.
	for t, ds := range next {
		var keep []string
		for _, d := range ds {
			if _, done := got[d]; !done {
				keep = append(keep, d)
			}
		}
		if keep == nil {
			delete(next, t)
		} else {
			next[t] = keep
		}
	}
	return next, nil
}

// entryPath returns an archive entry's path in the source root after
// dropping strip leading elements; "" for an entry that strip removes
// entirely. Absolute paths and ".." elements are refused.
func entryPath(name string, strip int) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("entry %q has an absolute path", name)
	}
	var parts []string
	for _, e := range strings.Split(name, "/") {
		switch e {
		case "..":
			return "", fmt.Errorf("entry %q leads outside the archive (..)", name)
		case "", ".":
			continue
		}
		parts = append(parts, e)
	}
	if len(parts) <= strip {
		return "", nil
	}
	return strings.Join(parts[strip:], "/"), nil
}

// linkTarget returns the path in the source root a link entry at rel
// points to, refusing one that leads outside the source root.
func linkTarget(rel string, hdr *tar.Header, strip int) (string, error) {
	if hdr.Typeflag == tar.TypeLink {
		// A hard link names another archive entry.
		t, err := entryPath(hdr.Linkname, strip)
		if err != nil || t == "" {
			return "", fmt.Errorf("hard link %s -> %q leads outside the source root", rel, hdr.Linkname)
		}
		return t, nil
	}
	if hdr.Linkname == "" || strings.HasPrefix(hdr.Linkname, "/") {
		return "", fmt.Errorf("symlink %s -> %q leads outside the source root", rel, hdr.Linkname)
	}
	t := path.Join(path.Dir(rel), hdr.Linkname)
	if t == "." || t == ".." || strings.HasPrefix(t, "../") {
		return "", fmt.Errorf("symlink %s -> %q leads outside the source root", rel, hdr.Linkname)
	}
	return t, nil
}

// decompress recognises gzip, bzip2 and xz by their magic numbers and
// returns the uncompressed stream; anything else is taken as a plain tar.
func decompress(f io.Reader) (io.Reader, error) {
	br := bufio.NewReader(f)
	magic, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, nil
	case bytes.HasPrefix(magic, []byte("BZh")):
		return bzip2.NewReader(br), nil
	case bytes.Equal(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		return xr, nil
	}
	return br, nil
}

// placeArchive copies the archive at name whole to src.Place under dir,
// for a source a step unpacks, and checks it against the archive pin.
//
// The archive is hashed as a stream before it is copied anywhere, and its
// size checked before that: a file that is not the pinned archive is
// refused without writing a byte of it.
func placeArchive(src chain.Source, name, dir string) error {
	f, err := verify.OpenRegular(name)
	if err != nil {
		return fmt.Errorf("source %s: %w", src.Name, err)
	}
	defer f.Close()
	notPinned := func(sum string) error {
		return &verify.MismatchError{Source: src.Name, Path: name, Expected: src.ArchiveSHA256, Actual: sum,
			Meaning: fmt.Sprintf("it is not the pinned archive of %s %s: a step unpacks this source, so the archive itself is pinned and a repacked archive or another release is refused", src.Name, versionOr(src))}
	}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("source %s: %w", src.Name, err)
	}
	if err := checkSize(src, src.Place, fi.Size(), name); err != nil {
		var e *verify.MismatchError
		if errors.As(err, &e) {
			e.Path = name
		}
		return err
	}
	max, _ := bound(src, src.Place)
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, max)); err != nil {
		return fmt.Errorf("source %s: read %s: %w", src.Name, name, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != src.ArchiveSHA256 {
		return notPinned(sum)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("source %s: %w", src.Name, err)
	}
	// Hashed again while copying: the file may change in between.
	sum, err := writeFile(filepath.Join(dir, filepath.FromSlash(src.Place)), io.LimitReader(f, max), 0o644)
	if err != nil {
		return fmt.Errorf("source %s: place %s: %w", src.Name, src.Place, err)
	}
	if sum != src.ArchiveSHA256 {
		return notPinned(sum)
	}
	return nil
}
