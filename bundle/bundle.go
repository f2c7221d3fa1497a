// Package bundle carries verified step outputs between machines: Export
// writes the outputs of a chain's steps up to one step, as the step store
// holds them, into a deterministic tar archive (optionally gzipped) with a
// manifest and a report; Import reads such an archive from anyone and
// checks every file against the chain's own pins before anything enters
// the store. An archive is never trusted: a changed byte, a missing or
// extra file, a path that leaves the archive, a link or any other entry
// that is not a regular file, a truncated stream, or an archive of another
// chain is refused with the entry named, and the store is left as it was.
//
// Layout (every entry a regular file, mode 0644 or 0755, owner 0, mtime 0,
// in this order):
//
//	bootchain-export/manifest.json       format, chain, digest, until, steps
//	bootchain-export/report.json         the steps, each "placed", with every output and its pin
//	bootchain-export/steps/NAME/PATH     each output of step NAME, steps in chain order, paths sorted
package bundle

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/engine"
	"github.com/bootchain/bootchain/store"
	"github.com/bootchain/bootchain/verify"
)

// Root is the directory every entry of an archive lives under.
const Root = "bootchain-export"

const (
	manifestName = Root + "/manifest.json"
	reportName   = Root + "/report.json"
	stepsDir     = Root + "/steps/"
	format       = 1
	// maxMeta bounds the manifest and the report, which are read into memory.
	maxMeta = 64 << 20
	// maxFile bounds one output: no step of a chain makes more, and a
	// forged size must not fill the disk before its hash is known.
	maxFile = 4 << 30
)

// Manifest says what an archive holds.
type Manifest struct {
	Format int    `json:"format"`
	Chain  string `json:"chain"`
	Digest string `json:"digest"` // the chain's digest (chain.Chain.Digest)
	Until  string `json:"until"`
	Steps  []Step `json:"steps"`
}

// Step is one step of a Manifest.
type Step struct {
	Name  string `json:"name"`
	Key   string `json:"key"` // the store key the pins predict (engine.PlannedKeys)
	Files int    `json:"files"`
}

// Summary is what Export wrote or Import stored.
type Summary struct {
	Manifest
	Files int
	Bytes int64
}

// ErrRefused is wrapped by every error about an archive's content.
var ErrRefused = errors.New("archive refused")

// steps returns the steps 0..until of c, checked to be ones the store
// holds (verified, with commands), and their planned keys.
func steps(c *chain.Chain, until string) ([]chain.Step, []string, error) {
	n := c.StepIndex(until)
	if n < 0 {
		return nil, nil, fmt.Errorf("--until %s: chain %s has no such step", until, c.Name)
	}
	for _, st := range c.Steps[:n+1] {
		if st.Unverified || st.Pending != "" {
			return nil, nil, fmt.Errorf("--until %s: step %s is in the unverified section, whose outputs are never stored; export up to the step before it", until, st.Name)
		}
	}
	keys, err := engine.PlannedKeys(c)
	if err != nil {
		return nil, nil, err
	}
	return c.Steps[:n+1], keys[:n+1], nil
}

// Export writes to w the archive of c's verified outputs up to the step
// until, from the store under cacheDir. Every output is re-hashed against
// its pin on the way. gz selects gzip compression (deterministic too).
func Export(ctx context.Context, w io.Writer, c *chain.Chain, until, cacheDir string, gz bool) (*Summary, error) {
	sts, keys, err := steps(c, until)
	if err != nil {
		return nil, err
	}
	s, err := store.Open(filepath.Join(cacheDir, "store"))
	if err != nil {
		return nil, err
	}
	sum := &Summary{Manifest: Manifest{Format: format, Chain: c.Name, Digest: c.Digest(), Until: until}}
	rep := &verify.Report{OK: true, Chain: c.Name, Backend: "export", Bootchain: verify.CurrentTool(), Until: until, UntilFrom: verify.UntilFlag,
		Seeds: map[string]string{}, Digest: c.Digest(), Sources: []verify.SourceReport{}, Steps: []verify.StepReport{}}
	entries := make([]store.Entry, len(sts))
	for i, st := range sts {
		e, found, err := s.Get(keys[i])
		if err != nil {
			return nil, fmt.Errorf("step %s: %w", st.Name, err)
		}
		if !found {
			return nil, fmt.Errorf("step %s has no verified outputs in the cache (key %s); run `bootchain run --until %s` first, or import an archive that holds it", st.Name, keys[i][:16], until)
		}
		for _, p := range chain.SortedPaths(st.Outputs) {
			if e.Files[p] != st.Outputs[p] {
				return nil, &verify.MismatchError{Step: st.Name, Path: p, Expected: st.Outputs[p], Actual: e.Files[p],
					Meaning: "the store's entry for this step disagrees with the chain; run it again with --no-cache"}
			}
		}
		if len(e.Files) != len(st.Outputs) {
			return nil, fmt.Errorf("step %s: the store's entry holds %d files, expected %d; run it again with --no-cache", st.Name, len(e.Files), len(st.Outputs))
		}
		entries[i] = e
		sum.Steps = append(sum.Steps, Step{Name: st.Name, Key: keys[i], Files: len(e.Files)})
		sr := verify.StepReport{Name: st.Name, Status: verify.StatusPlaced, Cached: true, Command: st.Argv, Inputs: []verify.Result{}, Outputs: []verify.Result{}}
		for _, p := range chain.SortedPaths(st.Outputs) {
			sr.Outputs = append(sr.Outputs, verify.Result{Path: p, SHA256: e.Files[p], Expected: st.Outputs[p], OK: true})
		}
		rep.Steps = append(rep.Steps, sr)
	}
	manifest, err := json.MarshalIndent(&sum.Manifest, "", "  ")
	if err != nil {
		return nil, err
	}
	report, err := verify.MarshalReport(rep)
	if err != nil {
		return nil, err
	}

	var gw *gzip.Writer
	out := w
	if gz {
		gw, _ = gzip.NewWriterLevel(w, gzip.BestCompression) // no name, no mtime: deterministic
		out = gw
	}
	bw := bufio.NewWriterSize(out, 1<<20)
	tw := tar.NewWriter(bw)
	add := func(name string, mode int64, size int64, r io.Reader) error {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: size, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	if err := add(manifestName, 0o644, int64(len(manifest)+1), bytes.NewReader(append(manifest, '\n'))); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if err := add(reportName, 0o644, int64(len(report)), bytes.NewReader(report)); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	tmp, err := os.MkdirTemp("", "bootchain-export-")
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	defer os.RemoveAll(tmp)
	for i, st := range sts {
		// Materialize re-hashes every blob against its pin as it copies.
		dir := filepath.Join(tmp, fmt.Sprint(i))
		if err := s.MaterializeContext(ctx, entries[i], dir); err != nil {
			var me *verify.MismatchError
			if errors.As(err, &me) {
				me.Step = st.Name
				return nil, me
			}
			return nil, fmt.Errorf("export: step %s: %w", st.Name, err)
		}
		for _, p := range chain.SortedPaths(entries[i].Files) {
			f, err := verify.OpenRegular(filepath.Join(dir, filepath.FromSlash(p)))
			if err != nil {
				return nil, fmt.Errorf("export: step %s: %w", st.Name, err)
			}
			fi, err := f.Stat()
			if err == nil {
				mode := int64(0o644)
				if fi.Mode()&0o111 != 0 {
					mode = 0o755
				}
				err = add(stepsDir+st.Name+"/"+p, mode, fi.Size(), f)
				sum.Files++
				sum.Bytes += fi.Size()
			}
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("export: step %s: %s: %w", st.Name, p, err)
			}
		}
		os.RemoveAll(dir)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if gw != nil {
		if err := gw.Close(); err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
	}
	return sum, nil
}

// refused is an error about entry name of the archive.
func refused(name, format string, args ...any) error {
	if name == "" {
		return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
	}
	return fmt.Errorf("%w: entry %s: %s", ErrRefused, name, fmt.Sprintf(format, args...))
}

// staged is one step's files read from an archive, hashed.
type staged struct {
	files map[string]string // path -> sha256
}

// Import reads the archive r and, once every file in it has matched the
// pins of c, stores each step's outputs under cacheDir, under the keys the
// pins predict. Nothing is stored unless the whole archive is sound.
func Import(ctx context.Context, r io.Reader, c *chain.Chain, cacheDir string) (*Summary, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	in := io.Reader(br)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, refused("", "gzip: %v", err)
		}
		zr.Multistream(false)
		in = zr
	}
	tmp, err := os.MkdirTemp("", "bootchain-import-")
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer os.RemoveAll(tmp)

	var manifest *Manifest
	var sawReport bool
	got := map[string]*staged{} // step name -> its files
	stepOf := map[string]chain.Step{}
	for _, st := range c.Steps {
		stepOf[st.Name] = st
	}
	sum := &Summary{}
	tr := tar.NewReader(in)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, refused("", "after %d entries: truncated or damaged: %v", sum.Files+2, unexpected(err))
		}
		name := hdr.Name
		if err := checkName(name); err != nil {
			return nil, refused(name, "%v", err)
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
		case tar.TypeDir:
			continue // directories carry nothing; files make their own
		case tar.TypeSymlink:
			return nil, refused(name, "a symbolic link (to %q); an archive holds regular files only", hdr.Linkname)
		case tar.TypeLink:
			return nil, refused(name, "a hard link (to %q); an archive holds regular files only", hdr.Linkname)
		default:
			return nil, refused(name, "entry type %q; an archive holds regular files only", string(hdr.Typeflag))
		}
		switch {
		case name == manifestName:
			b, err := readSmall(tr, hdr)
			if err != nil {
				return nil, refused(name, "%v", err)
			}
			m := &Manifest{}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(m); err != nil {
				return nil, refused(name, "not a bootchain manifest: %v", err)
			}
			if m.Format != format {
				return nil, refused(name, "format %d, expected %d", m.Format, format)
			}
			if m.Digest != c.Digest() {
				return nil, refused(name, "the archive is of chain %s with digest %s; chain %s has digest %s (another chain, or another version of it)", m.Chain, m.Digest, c.Name, c.Digest())
			}
			manifest = m
		case name == reportName:
			if _, err := readSmall(tr, hdr); err != nil {
				return nil, refused(name, "%v", err)
			}
			sawReport = true
		case strings.HasPrefix(name, stepsDir):
			stepName, p, _ := strings.Cut(strings.TrimPrefix(name, stepsDir), "/")
			st, ok := stepOf[stepName]
			if !ok || p == "" {
				return nil, refused(name, "not an output of any step of chain %s (an extra file)", c.Name)
			}
			want, ok := st.Outputs[p]
			if !ok {
				return nil, refused(name, "not an output of step %s (an extra file)", stepName)
			}
			sg := got[stepName]
			if sg == nil {
				sg = &staged{files: map[string]string{}}
				got[stepName] = sg
			}
			if _, dup := sg.files[p]; dup {
				return nil, refused(name, "listed twice")
			}
			if hdr.Size > maxFile {
				return nil, refused(name, "%d bytes, more than the %d bytes an output may have", hdr.Size, int64(maxFile))
			}
			dst := filepath.Join(tmp, stepName, filepath.FromSlash(p))
			h, n, err := stage(tr, dst, hdr.Mode)
			if err != nil {
				return nil, refused(name, "%v", unexpected(err))
			}
			if h != want {
				return nil, fmt.Errorf("%w: %w", ErrRefused, &verify.MismatchError{Step: stepName, Path: p, Expected: want, Actual: h,
					Meaning: "entry " + name + " is not the pinned bytes: the archive was changed or damaged; nothing was imported"})
			}
			sg.files[p] = h
			sum.Files++
			sum.Bytes += n
		default:
			return nil, refused(name, "not part of a bootchain archive (an extra file)")
		}
	}
	if manifest == nil {
		return nil, refused(manifestName, "missing: not a bootchain archive, or truncated")
	}
	if !sawReport {
		return nil, refused(reportName, "missing")
	}
	sts, keys, err := steps(c, manifest.Until)
	if err != nil {
		return nil, refused(manifestName, "%v", err)
	}
	for name := range got {
		if c.StepIndex(name) > c.StepIndex(manifest.Until) {
			return nil, refused(stepsDir+name, "step %s comes after the manifest's last step %s (an extra file)", name, manifest.Until)
		}
	}
	for _, st := range sts {
		sg := got[st.Name]
		for _, p := range chain.SortedPaths(st.Outputs) {
			if sg == nil || sg.files[p] == "" {
				return nil, refused(stepsDir+st.Name+"/"+p, "missing: step %s's output %s (sha256 %s) is not in the archive; nothing was imported", st.Name, p, st.Outputs[p])
			}
		}
	}
	// Everything matched: now, and only now, the store.
	s, err := store.Open(filepath.Join(cacheDir, "store"))
	if err != nil {
		return nil, err
	}
	sum.Manifest = Manifest{Format: format, Chain: c.Name, Digest: c.Digest(), Until: manifest.Until}
	for i, st := range sts {
		if err := s.Put(keys[i], filepath.Join(tmp, st.Name), st.Outputs); err != nil {
			return nil, fmt.Errorf("import: step %s: %w", st.Name, err)
		}
		sum.Steps = append(sum.Steps, Step{Name: st.Name, Key: keys[i], Files: len(st.Outputs)})
	}
	return sum, nil
}

// checkName refuses entry names that are not clean paths under Root.
func checkName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") {
		return fmt.Errorf("an absolute or empty path; entries are relative to the archive")
	}
	for _, part := range strings.Split(strings.TrimSuffix(name, "/"), "/") {
		if part == ".." {
			return fmt.Errorf("a path with \"..\", which could leave the archive")
		}
		if part == "" || part == "." {
			return fmt.Errorf("not a clean path")
		}
	}
	if strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f || r == '\\' }) {
		return fmt.Errorf("a path with control characters or backslashes")
	}
	if name != Root && name != Root+"/" && !strings.HasPrefix(name, Root+"/") {
		return fmt.Errorf("outside %s/ (an extra file)", Root)
	}
	return nil
}

// unexpected says what a short read means.
func unexpected(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("the archive ends in the middle of it (truncated)")
	}
	return err
}

func readSmall(r io.Reader, hdr *tar.Header) ([]byte, error) {
	if hdr.Size > maxMeta {
		return nil, fmt.Errorf("%d bytes, more than the %d a bootchain archive's metadata may have", hdr.Size, maxMeta)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, unexpected(err)
	}
	return b, nil
}

// stage copies one file out of the archive to dst, hashing it, with mode
// 0755 if the entry has any execute bit, else 0644.
func stage(r io.Reader, dst string, mode int64) (string, int64, error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", 0, err
	}
	perm := fs.FileMode(0o644)
	if mode&0o111 != 0 {
		perm = 0o755
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", n, err
	}
	if err := os.Chmod(dst, perm); err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
