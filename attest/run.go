package attest

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/bootchain/bootchain/verify"
)

// Run is what an attestation says about one run of a chain: the part of a
// report (verify.Report) that another party can reproduce and compare.
// FromReport takes it from a report, Statement writes it as an in-toto
// Statement and FromStatement reads it back.
type Run struct {
	Chain       string // chain name
	ChainDigest string // chain.Chain.Digest: the SHA-256 over its pins
	Until       string // last step the run was asked to run; empty: the chain's end
	UntilFrom   string // what asked for Until (verify.Until*)
	From        string // first step the run ran (bootchain run --from); empty: the first
	// StartTree is the SHA-256 of the tree a --from run started from (its
	// file list, sha256sum form); the steps before From are
	// verify.StatusPlaced, with no outputs: this run did not make them.
	StartTree string
	Backend   string // sandbox, qemu, ...
	Accel     string // the QEMU accelerator (kvm, tcg); empty for other backends
	// KernelSHA256 is the SHA-256 of the kernel image a QEMU guest booted.
	KernelSHA256 string
	Tool         verify.Tool
	Seeds        map[string]string // seed name -> SHA-256 of the seed the run used
	Sources      []verify.SourceReport
	Started      time.Time
	Ended        time.Time
	Steps        []Step
}

// Step is one step of a run as an attestation states it.
type Step struct {
	Name   string
	Status string // verify.StatusOK, StatusUnverified, or another status (then no outputs)
	Cached bool   // its outputs came from the party's cache, verified when stored
	// Outputs are the step's files: each matched its pin when Status is
	// verify.StatusOK; in the unverified section they are what the step
	// left, pinned or not.
	Outputs []Output
}

// Output is one file a step left and its SHA-256.
type Output struct {
	Path   string
	SHA256 string
}

// ErrNotAttestable is returned by FromReport for a report that does not
// describe a run that verified every step it ran.
var ErrNotAttestable = errors.New("not attestable")

// FromReport takes the attestable part of a report: every step with its
// status, and the outputs of the steps that verified (or ran in the
// unverified section). Only a run that ended well and verified at least
// one file is attestable; the error wraps ErrNotAttestable otherwise.
func FromReport(rep *verify.Report) (Run, error) {
	if !rep.OK {
		why := rep.Error
		if why == "" {
			why = "no error recorded"
		}
		return Run{}, fmt.Errorf("%w: the run failed (%s); only a run that verified every step it ran is attested", ErrNotAttestable, why)
	}
	r := Run{
		Chain: rep.Chain, ChainDigest: rep.Digest, Until: rep.Until, UntilFrom: rep.UntilFrom,
		From: rep.From, StartTree: rep.StartTree,
		Backend: rep.Backend, Accel: rep.Accel, KernelSHA256: rep.KernelSHA256,
		Tool: rep.Bootchain, Seeds: map[string]string{}, Sources: rep.Sources,
	}
	for k, v := range rep.Seeds {
		r.Seeds[k] = v
	}
	var err error
	if r.Started, err = parseTime(rep.Times.Started); err != nil {
		return Run{}, fmt.Errorf("%w: start time: %v", ErrNotAttestable, err)
	}
	if r.Ended, err = parseTime(rep.Times.Ended); err != nil {
		return Run{}, fmt.Errorf("%w: end time: %v", ErrNotAttestable, err)
	}
	verified := 0
	for _, s := range rep.Steps {
		st := Step{Name: s.Name, Status: s.Status, Cached: s.Cached}
		if s.Status == verify.StatusOK || s.Status == verify.StatusUnverified {
			for _, o := range s.Outputs {
				if o.SHA256 == "" {
					continue // the file was not there (an unverified step)
				}
				if s.Status == verify.StatusOK {
					if !o.OK || o.SHA256 != o.Expected {
						return Run{}, fmt.Errorf("%w: step %s is ok but its output %s does not match its pin", ErrNotAttestable, s.Name, o.Path)
					}
					verified++
				}
				st.Outputs = append(st.Outputs, Output{Path: o.Path, SHA256: o.SHA256})
			}
			sort.Slice(st.Outputs, func(i, j int) bool { return st.Outputs[i].Path < st.Outputs[j].Path })
		}
		r.Steps = append(r.Steps, st)
	}
	if verified == 0 {
		return Run{}, fmt.Errorf("%w: the run verified no file", ErrNotAttestable)
	}
	return r, nil
}

// parseTime reads a report time (RFC 3339); empty is the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}
