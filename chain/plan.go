package chain

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// PlanState is what the caller knows about a chain beyond its definition:
// the seeds' hashes and, for each step, its cache key and cache state.
type PlanState struct {
	Seeds       map[string]string // seed name -> sha256 of the seed
	SeedSources map[string]string // seed name -> sha256 of its hex0 source
	Steps       []StepState       // one per step, in order; may be shorter
}

// StepState is one step's cache key and cache state ("cached", "not cached").
type StepState struct {
	Key, Cache string
	// Derived, for a derive step whose commands are known, maps each
	// pinned output a run re-derives with the Go twins to the outputs of
	// programs without a twin its derivation rests on (empty: the pinned
	// sources alone). Nil when unknown or not a derive step.
	Derived map[string][]string
}

// WritePlan renders the chain for `bootchain plan`: the digest, the seeds,
// the sources and each step with its command, inputs, pinned outputs and
// cache state. The rendering is deterministic.
func (c *Chain) WritePlan(w io.Writer, st PlanState) error {
	bw := bufio.NewWriter(w)
	pf := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	pf("chain %s: %s\n", c.Name, c.Describe)
	pf("  file    %s\n", c.File)
	pf("  arch    %s\n", c.Arch)
	pf("  digest  %s\n", c.Digest())
	pf("\nseeds\n")
	for _, s := range c.Seeds {
		pf("  %-26s %s  %s\n", s.Name, orUnknown(st.Seeds[s.Name]), s.Path)
		if s.Source != "" {
			pf("  %-26s %s  %s\n", s.Name+" source", orUnknown(st.SeedSources[s.Name]), s.Source)
		}
	}
	pf("\nsources\n")
	for _, s := range c.Sources {
		v := s.Version
		if v == "" {
			v = "-"
		}
		where := "local " + s.LocalDir
		if s.Local == nil {
			where = fmt.Sprintf("%d mirror(s)", len(s.URLs))
		}
		if s.Place != "" {
			pf("  %s %s  the archive itself, placed at %s for a step to unpack  (%s)\n", s.Name, v, s.Place, where)
		} else {
			pf("  %s %s  %d pinned files in %s  (%s)\n", s.Name, v, len(s.Files), s.FilesList, where)
		}
		for _, u := range s.URLs {
			pf("    url %s\n", u)
		}
		if s.ArchiveSHA256 != "" {
			pf("    archive-sha256 %s\n", s.ArchiveSHA256)
		}
		if s.Strip != 0 {
			pf("    strip %d\n", s.Strip)
		}
		if s.At != "" {
			pf("    at %s\n", s.At)
		}
	}

	seedFiles := 0
	for _, s := range c.Seeds {
		seedFiles++
		if s.Source != "" {
			seedFiles++
		}
	}
	var used []string
	earlier := map[string]bool{}
	for i, s := range c.Steps {
		for _, u := range s.Uses {
			if !contains(used, u) {
				used = append(used, u)
			}
		}
		pf("\nstep %d/%d %s", i+1, len(c.Steps), s.Name)
		if s.Describe != "" {
			pf(": %s", s.Describe)
		}
		pf("\n")
		if s.Unverified {
			pf("  unverified (needs --unverified; never claims a verified result)\n")
		}
		if s.Pending != "" {
			pf("  pending  %s\n", s.Pending)
			if len(s.Uses) > 0 {
				pf("  uses     %s\n", strings.Join(s.Uses, " "))
			}
			pf("  outputs  none yet: a run stops before this step\n")
			continue
		}
		pf("  run      %s\n", strings.Join(s.Argv, " "))
		pf("  dir      %s\n", s.Dir)
		if len(s.Env) > 0 {
			pf("  env      %s\n", strings.Join(s.Env, " "))
		} else {
			pf("  env      (empty)\n")
		}
		pf("  timeout  %s\n", s.Timeout)
		var flags []string
		if s.Derive {
			flags = append(flags, "derive")
		}
		if s.Strict {
			flags = append(flags, "strict")
		}
		if len(flags) > 0 {
			pf("  flags    %s\n", strings.Join(flags, " "))
		}
		in := []string{fmt.Sprintf("%d seed files", seedFiles)}
		total := seedFiles
		for _, u := range used {
			src, _ := c.Source(u)
			in = append(in, fmt.Sprintf("%s (%d files)", u, len(src.Files)))
			total += len(src.Files)
		}
		in = append(in, fmt.Sprintf("earlier outputs (%d files)", len(earlier)))
		total += len(earlier)
		pf("  inputs   %s: %d files\n", strings.Join(in, ", "), total)
		if s.Pinned() {
			pf("  outputs  %d pinned in %s\n", len(s.Outputs), strings.Join(s.OutputsList, " "))
		} else {
			pf("  outputs  none pinned: every file the step writes is kept and reported, not checked\n")
		}
		var derived map[string][]string
		if i < len(st.Steps) {
			derived = st.Steps[i].Derived
		}
		for _, p := range SortedPaths(s.Outputs) {
			pf("    %s  %s%s\n", s.Outputs[p], p, derivedMark(derived, p))
		}
		if derived != nil {
			alone := 0
			for _, g := range derived {
				if len(g) == 0 {
					alone++
				}
			}
			pf("  derived  %d of %d outputs by the Go twins, %d from the pinned sources alone\n", len(derived), len(s.Outputs), alone)
		}
		if i < len(st.Steps) {
			pf("  cache    %s\n", st.Steps[i].Cache)
			pf("  key      %s\n", st.Steps[i].Key)
		}
		for o := range s.Outputs {
			earlier[o] = true
		}
	}
	return bw.Flush()
}

// WritePlanShort renders what `bootchain plan` shows without -v: the
// digest, the seeds, the sources and one line per step, with where a plain
// run stops and how to go further. The rendering is deterministic.
func (c *Chain) WritePlanShort(w io.Writer, st PlanState) error {
	bw := bufio.NewWriter(w)
	pf := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	pf("chain %s: %s\n", c.Name, c.Describe)
	pf("  digest  %s\n", c.Digest())
	for _, s := range c.Seeds {
		pf("  seed    %s  %s\n", orUnknown(st.Seeds[s.Name]), s.Name)
	}
	if len(c.Sources) > 0 {
		pf("\nsources\n")
	}
	width, vwidth := 0, 1
	for _, s := range c.Sources {
		width, vwidth = max(width, len(s.Name)), max(vwidth, len(s.Version))
	}
	for _, s := range c.Sources {
		what := fmt.Sprintf("%d pinned files", len(s.Files))
		if s.Place != "" {
			what = "the archive itself, for a step to unpack"
		}
		where := "local, shipped with the chain"
		if s.Local == nil {
			where = fmt.Sprintf("%d mirror(s)", len(s.URLs))
		}
		v := s.Version
		if v == "" {
			v = "-"
		}
		pf("  %-*s  %-*s  %s (%s)\n", width, s.Name, vwidth, v, what, where)
	}
	stop := c.PlainStop()
	pf("\nsteps\n")
	width = 0
	for _, s := range c.Steps {
		width = max(width, len(s.Name))
	}
	for i, s := range c.Steps {
		var notes []string
		switch {
		case s.Pending != "":
			notes = append(notes, "unverified, pending (no commands yet)")
		case s.Unverified:
			notes = append(notes, "unverified (needs --unverified)")
		case len(s.Outputs) == 1:
			notes = append(notes, "1 pinned output")
		default:
			notes = append(notes, fmt.Sprintf("%d pinned outputs", len(s.Outputs)))
		}
		if len(s.Uses) > 0 {
			notes = append(notes, "uses "+strings.Join(s.Uses, " "))
		}
		if i < len(st.Steps) && st.Steps[i].Cache == "cached" {
			notes = append(notes, "cached")
		}
		pf("  %2d/%d %-*s  %s\n", i+1, len(c.Steps), width, s.Name, strings.Join(notes, ", "))
		if i == stop && i+1 < len(c.Steps) {
			how := "--unverified runs further"
			if last := c.lastVerified(); last > stop {
				how = fmt.Sprintf("--until %s runs every verified step", c.Steps[last].Name)
			} else if c.Steps[i+1].Pending != "" {
				how = "the rest is pending"
			}
			pf("  ---- a plain run stops here (%s)\n", how)
		}
	}
	if stop < 0 {
		pf("a plain run runs no step\n")
	} else if stop+1 == len(c.Steps) {
		pf("a plain run runs every step\n")
	}
	pf("\nbootchain plan -v shows every step's command, inputs, pinned outputs and cache key.\n")
	return bw.Flush()
}

// lastVerified returns the index of the last step of the verified
// section that has commands, or -1.
func (c *Chain) lastVerified() int {
	last := -1
	for i, s := range c.Steps {
		if s.Unverified || s.Pending != "" {
			break
		}
		last = i
	}
	return last
}

// derivedMark is what follows the hash of output p: whether a run
// re-derives it and, if that rests on a compiler's output, which.
func derivedMark(derived map[string][]string, p string) string {
	given, ok := derived[p]
	switch {
	case !ok:
		return ""
	case len(given) == 0:
		return "  derived: yes"
	}
	return "  derived: yes (given " + strings.Join(given, " ") + ")"
}

func orUnknown(s string) string {
	if s == "" {
		return strings.Repeat("?", 64)
	}
	return s
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}
