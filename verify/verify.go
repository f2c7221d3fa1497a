// Package verify hashes files and compares them with their pins: the SHA-256
// values a chain records for every source file, seed and step output. It also
// reads and checks hash lists in sha256sum format and writes the JSON report of
// a run. Every other package that trusts a byte asks this one first.
package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
)

// ErrMismatch is matched (with errors.Is) by every error that reports a file
// whose SHA-256 differs from its pin, including a pinned file that is missing.
var ErrMismatch = errors.New("sha256 mismatch")

// MismatchError reports one file whose SHA-256 is not the pinned one.
// Actual is empty when the file is missing (then the error also matches
// fs.ErrNotExist) or is not a regular file inside the root (Problem says so).
type MismatchError struct {
	Step     string // step the file belongs to (an output, an input or a cached file); may be empty
	Source   string // source the file belongs to, for pinned source files; may be empty
	Path     string // slash-separated path relative to the step root or source root
	Expected string // pinned sha256
	Actual   string // sha256 found; empty if the file is missing or not hashable
	// Problem says what was found instead of a file to hash when Actual is
	// empty, such as "not a regular file"; empty means the file is missing.
	Problem string
	// Meaning says what the mismatch means and what to do, for example
	// "the file was changed or the tree is not release 1.9.1". Empty selects
	// a default that fits Step or Source.
	Meaning string
}

// Error returns "step S: PATH: sha256 is X, expected Y; MEANING".
func (e *MismatchError) Error() string {
	var b strings.Builder
	switch {
	case e.Step != "" && e.Source != "":
		fmt.Fprintf(&b, "step %s: source %s: ", e.Step, e.Source)
	case e.Step != "":
		fmt.Fprintf(&b, "step %s: ", e.Step)
	case e.Source != "":
		fmt.Fprintf(&b, "source %s: ", e.Source)
	}
	if e.Actual == "" {
		problem := e.Problem
		if problem == "" {
			problem = problemMissing
		}
		fmt.Fprintf(&b, "%s: %s, expected sha256 %s", e.Path, problem, e.Expected)
	} else {
		fmt.Fprintf(&b, "%s: sha256 is %s, expected %s", e.Path, e.Actual, e.Expected)
	}
	meaning := e.Meaning
	if meaning == "" {
		switch {
		case e.Source != "":
			meaning = "the file was changed or the tree is not the pinned release"
		case e.Step != "":
			meaning = "the step did not produce the pinned bytes"
		}
	}
	if meaning != "" {
		b.WriteString("; ")
		b.WriteString(meaning)
	}
	return b.String()
}

// Is reports whether target is ErrMismatch, or fs.ErrNotExist for a missing file.
func (e *MismatchError) Is(target error) bool {
	return target == ErrMismatch || (e.Actual == "" && (e.Problem == "" || e.Problem == problemMissing) && target == fs.ErrNotExist)
}

// Result is the outcome of checking one pinned file.
type Result struct {
	Path     string `json:"path"`
	SHA256   string `json:"sha256"`   // what was found; empty if the file could not be read
	Expected string `json:"expected"` // the pin
	OK       bool   `json:"ok"`
	Derived  bool   `json:"derived,omitempty"` // also re-derived by a Go twin (stage0/)
	// Problem explains a failure that is not a plain mismatch, such as
	// "missing" or "not a regular file".
	Problem string `json:"problem,omitempty"`
}

// Err returns nil for a passing result and otherwise a *MismatchError for the
// file, attributed to step (which may be empty).
func (r Result) Err(step string) error {
	if r.OK {
		return nil
	}
	e := &MismatchError{Step: step, Path: r.Path, Expected: r.Expected, Actual: r.SHA256, Problem: r.Problem}
	if e.Problem == problemMissing {
		e.Problem = ""
	}
	return e
}

// FirstFailure returns the error of the first failing result in rs, or nil.
func FirstFailure(step string, rs []Result) error {
	for _, r := range rs {
		if !r.OK {
			return r.Err(step)
		}
	}
	return nil
}

const (
	problemMissing    = "missing"
	problemNotRegular = "not a regular file"
	// ProblemNotPinned marks a file written by an unverified step that has
	// no pins: reported with its hash, never checked.
	ProblemNotPinned = "not pinned"
)

// File returns the hex SHA-256 of the file at path, reading it as a
// stream. A path that is not a regular file is refused without blocking
// (see OpenRegular).
func File(path string) (string, error) {
	f, err := OpenRegular(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sum, err := hashReader(f)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return sum, nil
}

func hashReader(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Tree returns the SHA-256 of every regular file under root, keyed by its
// slash-separated path relative to root. A symbolic link is listed with the
// hash of the file it leads to when that is a regular file inside root (as
// Outputs checks it, and as a tool reading it sees it); other links (to a
// directory, dangling, or leading out of root) are not listed. Nothing
// outside root is read.
func Tree(root string) (map[string]string, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("hash tree: %w", err)
	}
	defer r.Close()
	sums := map[string]string{}
	err = fs.WalkDir(r.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		link := d.Type()&fs.ModeSymlink != 0
		if !d.Type().IsRegular() && !link {
			return nil
		}
		f, err := OpenRegularIn(r, p)
		if errors.Is(err, ErrNotRegular) {
			return nil // a link to a directory or special file, or replaced since the walk saw it
		}
		if err != nil {
			if link {
				return nil // dangling, or leads out of root
			}
			return err
		}
		defer f.Close()
		sum, err := hashReader(f)
		if err != nil {
			return fmt.Errorf("hash %s: %w", p, err)
		}
		sums[p] = sum
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hash tree %s: %w", root, err)
	}
	return sums, nil
}

// Outputs hashes each pinned file under root and compares it with its pin.
// The results are sorted by path. A missing file, or one that is not a
// regular file, is a failing result, not an error; the error reports only
// what prevents checking at all (an unreadable root, an I/O error). Paths
// are resolved inside root: a symbolic link that leads out of it fails.
func Outputs(root string, pins map[string]string) ([]Result, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("check outputs: %w", err)
	}
	defer r.Close()
	paths := make([]string, 0, len(pins))
	for p := range pins {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	results := make([]Result, 0, len(paths))
	for _, p := range paths {
		res, err := check(r, p, pins[p])
		if err != nil {
			return nil, fmt.Errorf("check %s in %s: %w", p, root, err)
		}
		results = append(results, res)
	}
	return results, nil
}

// check hashes one pinned file inside r.
func check(r *os.Root, p, want string) (Result, error) {
	res := Result{Path: p, Expected: want}
	clean, err := CleanPath(p)
	if err != nil {
		res.Problem = err.Error()
		return res, nil
	}
	fi, err := r.Stat(clean)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		res.Problem = problemMissing
		return res, nil
	case Escapes(err):
		res.Problem = "path leads outside the root"
		return res, nil
	case err != nil:
		return res, err
	case !fi.Mode().IsRegular():
		res.Problem = problemNotRegular
		return res, nil
	}
	f, err := OpenRegularIn(r, clean)
	if errors.Is(err, ErrNotRegular) {
		// Replaced since the Stat above.
		res.Problem = problemNotRegular
		return res, nil
	}
	if err != nil {
		return res, err
	}
	defer f.Close()
	sum, err := hashReader(f)
	if err != nil {
		return res, err
	}
	res.SHA256 = sum
	res.OK = sum == strings.ToLower(want)
	return res, nil
}

// Escapes reports whether err is os.Root refusing a path (usually through a
// symbolic link) that leads outside its root. The os package does not export
// that error, so this matches its text.
func Escapes(err error) bool {
	return err != nil && strings.Contains(err.Error(), "path escapes from parent")
}

// CleanPath checks that p is a pin path: slash-separated, relative, and
// inside the root (no "..", no empty name). It returns p cleaned, without a
// leading "./".
func CleanPath(p string) (string, error) {
	switch {
	case p == "":
		return "", errors.New("empty path")
	case strings.HasPrefix(p, "/"):
		return "", fmt.Errorf("path %q is absolute; pins are relative to the root", p)
	case strings.ContainsRune(p, 0):
		return "", fmt.Errorf("path %q contains a NUL byte", p)
	}
	c := path.Clean(p)
	if c == "." || c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("path %q leads outside the root", p)
	}
	return c, nil
}
