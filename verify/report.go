package verify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Step statuses used in StepReport.Status.
const (
	StatusOK         = "ok"         // ran (or came from the cache) and every pin matched
	StatusFailed     = "failed"     // ran and failed, or a pin did not match
	StatusSkipped    = "skipped"    // not run (after --until, or after a failure)
	StatusUnverified = "unverified" // ran in the unverified section: never claims a result
	StatusPending    = "pending"    // laid out in the unverified section, no commands yet: the run stopped before it
)

// Report is the JSON record of a run (`bootchain run --report FILE`). Its
// encoding is stable: fields in declaration order, maps sorted by key, empty
// lists written as []. Only the labelled times (StepReport.Seconds) vary
// between two runs of the same chain.
type Report struct {
	OK      bool              `json:"ok"`
	Chain   string            `json:"chain"`
	Backend string            `json:"backend"`
	Seeds   map[string]string `json:"seeds"` // seed name -> sha256 of the seed the run used
	// SeedsOurs holds bootchain's own seeds (name -> sha256) when the run
	// used another party's (bootchain run --seeds DIR); absent otherwise.
	SeedsOurs map[string]string `json:"seeds_ours,omitempty"`
	Digest    string            `json:"digest"`
	Steps     []StepReport      `json:"steps"`
	Error     string            `json:"error,omitempty"`
}

// StepReport is one step's part of a Report.
type StepReport struct {
	Name       string   `json:"name"`
	Status     string   `json:"status"`
	Seconds    float64  `json:"seconds"` // wall time: the only non-deterministic field
	Cached     bool     `json:"cached"`
	Inputs     []Result `json:"inputs"`
	Outputs    []Result `json:"outputs"`
	Undeclared []string `json:"undeclared,omitempty"` // files the step wrote that the chain does not declare
	Command    []string `json:"command"`
	LogTail    []string `json:"log_tail,omitempty"`
	WorkDir    string   `json:"work_dir,omitempty"`
}

// EncodeReport writes r as indented JSON followed by a newline.
func EncodeReport(w io.Writer, r *Report) error {
	b, err := MarshalReport(r)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// MarshalReport returns the stable JSON encoding of r (see Report).
func MarshalReport(r *Report) ([]byte, error) {
	c := *r
	if c.Seeds == nil {
		c.Seeds = map[string]string{}
	}
	c.Steps = make([]StepReport, len(r.Steps))
	for i, s := range r.Steps {
		if s.Inputs == nil {
			s.Inputs = []Result{}
		}
		if s.Outputs == nil {
			s.Outputs = []Result{}
		}
		if s.Command == nil {
			s.Command = []string{}
		}
		c.Steps[i] = s
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&c); err != nil {
		return nil, fmt.Errorf("encode report: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteReport writes r to path atomically: a temporary file in the same
// directory is written, synced and renamed over path, so a reader sees the
// old report or the new one, never a part.
func WriteReport(path string, r *Report) error {
	b, err := MarshalReport(r)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(path, b, 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// writeFileAtomic writes data to path through a synced temporary file in the
// same directory and a rename; the directory is synced too.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
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
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
