package verify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
)

// Step statuses used in StepReport.Status.
const (
	StatusOK      = "ok"      // ran (or came from the cache) and every pin matched
	StatusFailed  = "failed"  // ran and failed, or a pin did not match
	StatusSkipped = "skipped" // requested but not run: after a failure, or after the person stepping quit
	// StatusNotRequested marks a step past where the run was asked to stop
	// (--until, the chain's default-until, or the end of the verified
	// section): the run did what it meant; --until or --unverified runs it.
	StatusNotRequested = "not requested"
	StatusUnverified   = "unverified" // ran in the unverified section: never claims a result
	StatusPending      = "pending"    // laid out in the unverified section, no commands yet: the run stopped before it
	StatusPlaced       = "placed"     // before --from: did not run; its outputs came from the cache, each re-hashed against its pin
)

// Report is the JSON record of a run (`bootchain run --report FILE`). Its
// encoding is stable: fields in declaration order, maps sorted by key, empty
// lists written as []. Only the labelled times (Times, StepReport.Seconds)
// vary between two runs of the same chain by the same bootchain.
type Report struct {
	OK      bool   `json:"ok"`
	Chain   string `json:"chain"`
	Backend string `json:"backend"`
	// Accel is the accelerator a QEMU guest ran with (kvm or tcg) and
	// KernelSHA256 the SHA-256 of the kernel image it booted; both absent
	// for other backends.
	Accel        string `json:"accel,omitempty"`
	KernelSHA256 string `json:"kernel_sha256,omitempty"`
	// Bootchain is the program that ran the chain.
	Bootchain Tool `json:"bootchain"`
	// Until is the last step the run was asked to run and UntilFrom what
	// asked for it (one of the Until* constants); empty when the run was
	// not asked to stop anywhere but the chain's end.
	Until     string            `json:"until,omitempty"`
	UntilFrom string            `json:"until_from,omitempty"`
	Seeds     map[string]string `json:"seeds"` // seed name -> sha256 of the seed the run used
	// SeedsOurs holds bootchain's own seeds (name -> sha256) when the run
	// used another party's (bootchain run --seeds DIR); absent otherwise.
	SeedsOurs map[string]string `json:"seeds_ours,omitempty"`
	Digest    string            `json:"digest"`
	// Sources are the sources the steps run used, in the order they were
	// first used: what form each came in and its digest.
	Sources []SourceReport `json:"sources"`
	// From is the step a `run --from` started at (the steps before it are
	// StatusPlaced), and StartTree the SHA-256 of the tree it started from:
	// one "<sha256>  <path>\n" line per file, sorted by path. Both are
	// absent for a run from the seeds.
	From      string       `json:"from,omitempty"`
	StartTree string       `json:"start_tree,omitempty"`
	Steps     []StepReport `json:"steps"`
	Error     string       `json:"error,omitempty"`
	// Times are the run's wall-clock times, the only part of the report
	// besides StepReport.Seconds that differs between two identical runs.
	Times Times `json:"times"`
	// Limits are the bounds every step ran under (the sandbox backend's);
	// absent for other backends.
	Limits *Limits `json:"limits,omitempty"`
}

// Limits are what a step of the sandbox backend may use (sandbox.Limits).
type Limits struct {
	RootBytes int64 `json:"root_bytes"` // size of the tmpfs the step runs in
	// MemoryBytes bounds the step's memory, its root's files included,
	// with a memory cgroup, or each process's address space with
	// RLIMIT_AS; MemoryBy says which ("cgroup v2 memory", "cgroup v1
	// memory", "RLIMIT_AS").
	MemoryBytes int64  `json:"memory_bytes"`
	MemoryBy    string `json:"memory_by"`
	// Pids bounds the step's processes and threads; PidsBy says how
	// ("cgroup v2 pids", "cgroup v1 pids", "RLIMIT_NPROC").
	Pids   int    `json:"pids"`
	PidsBy string `json:"pids_by"`
}

// What chose Report.Until.
const (
	UntilFlag          = "--until"          // the person asked with --until
	UntilDefault       = "default-until"    // the chain's default stop
	UntilVerifiedEnd   = "verified-section" // the end of the verified section (no --unverified)
	UntilChainEnd      = "chain-end"        // every step of the chain was asked for
	UntilBeforePending = "before-pending"   // the first pending step ends what can run
)

// Tool names the bootchain that made a report.
type Tool struct {
	Version string `json:"version"` // the module version, "(devel)" for a build from a checkout
	// Commit is the VCS revision the binary was built from ("unknown" when
	// the build did not record it, e.g. under go test); Modified says the
	// work tree had uncommitted changes.
	Commit   string `json:"commit"`
	Modified bool   `json:"modified,omitempty"`
}

// Source forms in SourceReport.Form.
const (
	FormArchive = "archive" // a release archive, unpacked and checked file by file
	FormTree    = "tree"    // an unpacked directory, checked in place
	// FormUnknown: the files came from a cache made by a bootchain that
	// did not record their form.
	FormUnknown = "unknown"
)

// SourceReport is how one source entered the run.
type SourceReport struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	Form    string `json:"form"` // FormArchive, FormTree or FormUnknown
	// From is where it came from: "--source" (given on the command line),
	// "cache" (fetched or imported earlier) or "chain" (a local source
	// shipped with the chain).
	From string `json:"from"`
	// FilesSHA256 is the SHA-256 of the source's pinned-file list as
	// sha256sum writes it ("HASH  PATH\n" sorted by path): the digest of
	// exactly what the steps read, whatever the form.
	FilesSHA256 string `json:"files_sha256"`
	Files       int    `json:"files"`
	// ArchiveSHA256 is the archive's SHA-256 when the form is an archive
	// whose bytes were checked or hashed in this run or when it was fetched.
	ArchiveSHA256 string `json:"archive_sha256,omitempty"`
}

// Times are a run's wall-clock start and end, RFC 3339 in UTC.
type Times struct {
	Started string `json:"started"`
	Ended   string `json:"ended"`
}

// CurrentTool describes the running bootchain from its build information.
func CurrentTool() Tool {
	t := Tool{Version: "unknown", Commit: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return t
	}
	if bi.Main.Version != "" {
		t.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if s.Value != "" {
				t.Commit = s.Value
			}
		case "vcs.modified":
			t.Modified = s.Value == "true"
		}
	}
	return t
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
	if c.Sources == nil {
		c.Sources = []SourceReport{}
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

// CheckReportPath says whether a report can be written to path, before a
// run that would write it starts: its directory must exist and take a new
// file, and path must not be a directory. It leaves nothing behind.
func CheckReportPath(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("report %s: is a directory, expected a file name", path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("report %s: cannot write there: %w", path, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}
