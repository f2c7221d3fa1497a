package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/source"
	"github.com/bootchain/bootchain/verify"
)

// DeriveOptions configures Derive.
type DeriveOptions struct {
	Chain *chain.Chain
	// Sources maps a source name to a path given with --source NAME=PATH;
	// other sources come from the cache.
	Sources map[string]string
	// CacheDir holds the sources; empty means source.CacheDir().
	CacheDir string
	// WorkDir, when set, is a tree a run left (bootchain run --work): every
	// derived output is compared with its file there too, and the pinned
	// outputs of programs without a twin (the compilers' assembly) are taken
	// from it, after checking their pins, to derive what the twins build
	// from them.
	WorkDir string
}

// DerivedOutput is one pinned output the Go twins re-derived on the host.
type DerivedOutput struct {
	Step    string
	Path    string
	SHA256  string // what the twins derive
	Pin     string // the chain's pin
	Run     string // the file's SHA-256 in WorkDir; empty without one, or when missing or replaced by a later step
	Command string // the command that writes it (the last one, if several)
	// Given lists the outputs of programs without a twin the derivation
	// rests on, taken from WorkDir after checking their pins. Empty means
	// the file follows from the seeds' pinned sources and the pinned
	// source files alone.
	Given []string
	// Compared is false when WorkDir holds a later step's version of the
	// file (a path written by several steps), so Run is not compared.
	Compared bool
}

// OK reports whether the derivation equals the pin, and the run's file
// when there is one to compare.
func (d DerivedOutput) OK() bool {
	return d.SHA256 == d.Pin && (!d.Compared || d.Run == d.Pin)
}

// Underived is a pinned output of a `derive` step the twins did not
// re-derive, with the reason.
type Underived struct {
	Step, Path, Reason string
}

// Derivation is the result of Derive.
type Derivation struct {
	// Report has run's shape: each derive step's derived outputs, with
	// sha256 what the twins derive, expected the pin and derived true.
	Report    *verify.Report
	Derived   []DerivedOutput // by step, then path
	Underived []Underived     // by step, then path
}

// Derive re-derives on the host, with the Go twins of package stage0 and
// nothing the chain runs, every output of the chain's `derive` steps that
// stage0 tools write: the commands of each step's kaem script are read
// from the pinned sources, and each twin command is computed from pinned
// source files, the seeds' sources and the twins' own earlier outputs. With
// WorkDir, it also compares each with the run's file and derives what rests
// on the compilers' outputs. Nothing is run and nothing is written.
//
// A mismatch is not an error: the report and Derived say which. The error
// reports what prevents deriving (a missing source, a twin that fails).
func Derive(ctx context.Context, o DeriveOptions) (*Derivation, error) {
	c := o.Chain
	if c == nil {
		return nil, errors.New("derive: no chain")
	}
	for name := range o.Sources {
		if _, ok := c.Source(name); !ok {
			return nil, fmt.Errorf("--source %s=...: chain %s has no source %s", name, c.Name, name)
		}
	}
	if o.WorkDir != "" {
		if fi, err := os.Stat(o.WorkDir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("--work %s: expected a tree left by bootchain run --work, found none", o.WorkDir)
		}
	}
	h, err := newHostFiles(c, o.CacheDir, o.Sources)
	if err != nil {
		return nil, err
	}
	h.work = o.WorkDir
	rep := &verify.Report{Chain: c.Name, Backend: "derive", Bootchain: verify.CurrentTool(), Seeds: map[string]string{},
		Digest: c.Digest(), Steps: []verify.StepReport{}, Times: verify.Times{Started: now()}}
	for _, s := range h.seedList {
		if !s.source {
			rep.Seeds[s.name] = s.sha256
		}
	}
	res := &Derivation{Report: rep}
	final := c.FinalPins("")
	last := lastDerive(c)
	for i, st := range c.Steps {
		sr := verify.StepReport{Name: st.Name, Status: verify.StatusSkipped, Command: st.Argv, Inputs: []verify.Result{}, Outputs: []verify.Result{}}
		if i > last {
			rep.Steps = append(rep.Steps, sr)
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := h.open(ctx, st); err != nil {
			return nil, err
		}
		if !st.Derive || st.Unverified {
			h.addOutputs(st)
			rep.Steps = append(rep.Steps, sr)
			continue
		}
		sd, err := h.deriveStep(st, true)
		if err != nil {
			return nil, fmt.Errorf("step %s: %w", st.Name, err)
		}
		sr.Status = verify.StatusOK
		for _, p := range chain.SortedPaths(st.Outputs) {
			d, ok := sd.derived[p]
			if !ok {
				res.Underived = append(res.Underived, Underived{Step: st.Name, Path: p, Reason: h.reason(p, sd)})
				continue
			}
			do := DerivedOutput{Step: st.Name, Path: p, SHA256: d.sha256, Pin: st.Outputs[p], Command: d.command, Given: d.given}
			r := verify.Result{Path: p, SHA256: d.sha256, Expected: do.Pin, Derived: true}
			if o.WorkDir != "" && final[p] == do.Pin {
				do.Compared = true
				do.Run, err = verify.File(filepath.Join(o.WorkDir, filepath.FromSlash(p)))
				switch {
				case errors.Is(err, os.ErrNotExist):
					r.Problem = "missing from the run's tree " + o.WorkDir
				case err != nil:
					return nil, fmt.Errorf("--work %s: %w", o.WorkDir, err)
				case do.Run != do.Pin:
					r.Problem = fmt.Sprintf("the run's tree %s has sha256 %s", o.WorkDir, do.Run)
				}
			}
			r.OK = do.OK()
			if !r.OK {
				sr.Status = verify.StatusFailed
				if rep.Error == "" {
					rep.Error = derivedError(st.Name, do, r.Problem)
				}
			}
			sr.Outputs = append(sr.Outputs, r)
			res.Derived = append(res.Derived, do)
		}
		rep.Steps = append(rep.Steps, sr)
		h.addOutputs(st)
		for p, d := range sd.derived {
			h.earlier[p] = d
		}
		for p, m := range sd.missing {
			h.missing[p] = m
		}
		for p, w := range sd.writers {
			h.writers[p] = w
		}
	}
	rep.OK = rep.Error == ""
	rep.Times.Ended = now()
	return res, nil
}

func derivedError(step string, d DerivedOutput, problem string) string {
	if d.SHA256 != d.Pin {
		return fmt.Sprintf("step %s: %s: the Go twins derive sha256 %s from `%s`, but the chain pins %s", step, d.Path, d.SHA256, d.Command, d.Pin)
	}
	return fmt.Sprintf("step %s: %s: the Go twins derive the pinned sha256 %s, but %s", step, d.Path, d.Pin, problem)
}

// lastDerive returns the index of the last verified `derive` step, or -1.
func lastDerive(c *chain.Chain) int {
	last := -1
	for i, st := range c.Steps {
		if st.Unverified {
			break
		}
		if st.Derive {
			last = i
		}
	}
	return last
}

// PlanDerived works out, without assembling anything, which pinned outputs
// of each `derive` step a run re-derives with the Go twins: for each step
// (nil for the others) a map from output path to the outputs of programs
// without a twin its derivation rests on (empty: the seeds' sources and
// pinned source files alone). It reads the steps' scripts from the
// sources (sources, or the cache); the steps from the first whose sources
// are not at hand on are left nil, and the error says why.
func PlanDerived(ctx context.Context, c *chain.Chain, sources map[string]string, cacheDir string) ([]map[string][]string, error) {
	out := make([]map[string][]string, len(c.Steps))
	h, err := newHostFiles(c, cacheDir, sources)
	if err != nil {
		return out, err
	}
	h.plan = true
	last := lastDerive(c)
	for i, st := range c.Steps {
		if i > last {
			break
		}
		if err := h.open(ctx, st); err != nil {
			return out, err
		}
		if !st.Derive || st.Unverified {
			h.addOutputs(st)
			continue
		}
		sd, err := h.deriveStep(st, false)
		if err != nil {
			return out, fmt.Errorf("step %s: %w", st.Name, err)
		}
		out[i] = map[string][]string{}
		for p := range st.Outputs {
			if d, ok := sd.derived[p]; ok {
				out[i][p] = append([]string{}, d.given...)
			}
		}
		h.addOutputs(st)
		for p, d := range sd.derived {
			h.earlier[p] = d
		}
	}
	return out, nil
}

// hostFiles is what a derivation on the host may read: the seeds and their
// sources, the pinned files of the sources opened so far, the twins'
// derivations of earlier steps and, from a run's tree, the pinned outputs
// of the programs without a twin.
type hostFiles struct {
	c        *chain.Chain
	cache    string
	supplied map[string]string
	seedList []seedFile
	seeds    map[string]seedFile
	sources  map[string]string // pinned source file -> host path
	srcPins  map[string]string // pinned source file -> sha256
	opened   map[string]bool
	outputs  map[string]string // pinned output of the steps so far -> pin
	earlier  map[string]derivation
	missing  map[string]*unavailableError
	writers  map[string]string
	work     string // a run's tree, or ""
	plan     bool   // planning only: no file is read
}

func newHostFiles(c *chain.Chain, cacheDir string, supplied map[string]string) (*hostFiles, error) {
	if cacheDir == "" {
		var err error
		if cacheDir, err = source.CacheDir(); err != nil {
			return nil, err
		}
	}
	seeds, err := seedFiles(c)
	if err != nil {
		return nil, err
	}
	h := &hostFiles{c: c, cache: cacheDir, supplied: supplied, seedList: seeds, seeds: map[string]seedFile{},
		sources: map[string]string{}, srcPins: map[string]string{}, opened: map[string]bool{}, outputs: map[string]string{},
		earlier: map[string]derivation{}, missing: map[string]*unavailableError{}, writers: map[string]string{}}
	for _, s := range seeds {
		h.seeds[s.path] = s
	}
	return h, nil
}

// open verifies the sources st uses for the first time.
func (h *hostFiles) open(ctx context.Context, st chain.Step) error {
	for _, u := range st.Uses {
		if h.opened[u] {
			continue
		}
		src, _ := h.c.Source(u)
		t, err := source.Open(ctx, *src, h.supplied[u], h.cache)
		if err != nil {
			var me *verify.MismatchError
			if errors.As(err, &me) && me.Step == "" {
				me.Step = st.Name
				return me
			}
			return fmt.Errorf("step %s: %w", st.Name, err)
		}
		for p, sum := range src.Files {
			rp := src.RootPath(p)
			h.sources[rp], h.srcPins[rp] = t.Path(p), sum
		}
		h.opened[u] = true
	}
	return nil
}

func (h *hostFiles) addOutputs(st chain.Step) {
	for p, sum := range st.Outputs {
		h.outputs[p] = sum
	}
}

// deriveStep derives step st's twin commands from what h holds; the step's
// own pinned outputs count as its programs' outputs.
func (h *hostFiles) deriveStep(st chain.Step, compute bool) (*stepDerivation, error) {
	h.addOutputs(st)
	cmds, err := stepCommands(st, func(p string) ([]byte, error) {
		if h.plan {
			return h.readSource(p)
		}
		b, _, err := h.read(p)
		return b, err
	})
	if err != nil {
		return nil, err
	}
	return deriveCommands(st, h.c.Arch, cmds, h.read, compute)
}

// readSource reads a pinned source file (even when planning: the scripts
// are needed to know the commands).
func (h *hostFiles) readSource(p string) ([]byte, error) {
	hp, ok := h.sources[p]
	if !ok {
		return nil, &unavailableError{p, "not a pinned source file"}
	}
	b, err := verify.ReadRegular(hp, 0)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != h.srcPins[p] {
		return nil, &verify.MismatchError{Path: p, Expected: h.srcPins[p], Actual: got, Meaning: "the source file changed after it was checked"}
	}
	return b, nil
}

// read is the fileSource of a host derivation.
func (h *hostFiles) read(p string) ([]byte, []string, error) {
	if d, ok := h.earlier[p]; ok {
		return d.data, d.given, nil
	}
	if s, ok := h.seeds[p]; ok {
		if h.plan {
			return nil, nil, nil
		}
		return s.bytes, nil, nil
	}
	if _, ok := h.sources[p]; ok {
		if h.plan {
			return nil, nil, nil
		}
		b, err := h.readSource(p)
		return b, nil, err
	}
	pin, ok := h.outputs[p]
	if !ok {
		return nil, nil, &unavailableError{p, "which is neither a seed, a pinned source file nor a pinned output of the steps so far"}
	}
	if h.plan {
		return nil, []string{p}, nil // a run has it
	}
	if h.work == "" {
		if m, ok := h.missing[p]; ok {
			return nil, nil, m
		}
		return nil, nil, &unavailableError{p, ""}
	}
	b, err := verify.ReadRegular(filepath.Join(h.work, filepath.FromSlash(p)), 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, &unavailableError{p, "which is missing from the run's tree " + h.work}
	}
	if err != nil {
		return nil, nil, err
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != pin {
		return nil, nil, &unavailableError{p, fmt.Sprintf("whose copy in the run's tree %s has sha256 %s, not its pin %s", h.work, got, pin)}
	}
	return b, []string{p}, nil
}

// reason says why the pinned output p of a step was not derived.
func (h *hostFiles) reason(p string, sd *stepDerivation) string {
	writer := func(p string) string {
		if w, ok := sd.writers[p]; ok {
			return w
		}
		if w, ok := h.writers[p]; ok {
			return w
		}
		return ""
	}
	if m, ok := sd.missing[p]; ok {
		if m.why != "" {
			return fmt.Sprintf("needs %s, %s", m.path, m.why)
		}
		by := "a program"
		if w := writer(m.path); w != "" {
			by = w
		}
		return fmt.Sprintf("needs %s, an output of %s, which has no Go twin (--work DIR takes it from a run)", m.path, by)
	}
	if w := writer(p); w != "" {
		return fmt.Sprintf("written by %s, which has no Go twin", w)
	}
	return "written by no command of the step that bootchain can read"
}
