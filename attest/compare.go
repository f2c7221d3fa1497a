package attest

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bootchain/bootchain/verify"
)

// Party is one input of Compare: a run and who vouches for it.
type Party struct {
	File string // where the run was read from
	Run  Run
	// Signers are the allowed signers whose signatures verified; empty for
	// a plain report or an envelope whose signatures were not checked.
	Signers []AllowedSigner
	// KeyIDs are the key ids an envelope names (checked or not); empty for
	// a plain report.
	KeyIDs []string
}

// Label names the party for a person: its signers, or what it is when
// nobody vouches for it.
func (p Party) Label() string {
	switch {
	case len(p.Signers) > 0:
		var names []string
		for _, s := range p.Signers {
			names = append(names, s.Name())
		}
		return strings.Join(names, "+")
	case len(p.KeyIDs) > 0:
		return "unchecked " + strings.Join(p.KeyIDs, "+")
	}
	return "unsigned"
}

// ran says whether a step status means the party ran the step (or took
// it from its own verified cache) and so vouches for its outputs.
func ran(status string) bool {
	return status == verify.StatusOK || status == verify.StatusUnverified
}

// Comparison is what Compare finds: per step, which parties ran it and
// whether their outputs agree; every file on which two disagree; and
// whether every step has a quorum of signers.
type Comparison struct {
	Chain       string           `json:"chain"`
	ChainDigest string           `json:"chain_digest"`
	Parties     []PartySummary   `json:"parties"`
	Steps       []StepComparison `json:"steps"`
	Differences []Difference     `json:"differences"`
	Quorum      int              `json:"quorum"`
	// ShortOfQuorum are the steps some party ran that fewer than Quorum
	// distinct signers vouch for.
	ShortOfQuorum []string `json:"short_of_quorum"`
	// Agree is true when no two parties disagree on any file.
	Agree bool `json:"agree"`
	// OK is Agree and no step short of the quorum.
	OK bool `json:"ok"`
}

// PartySummary is one party as the comparison shows it.
type PartySummary struct {
	N       int      `json:"n"` // its column, from 1
	File    string   `json:"file"`
	Label   string   `json:"label"`
	Signers []string `json:"signers"` // verified principals
	KeyIDs  []string `json:"key_ids"`
	Backend string   `json:"backend"`
	Accel   string   `json:"accel,omitempty"`
	Ended   string   `json:"ended,omitempty"`
}

// StepComparison is one step across the parties.
type StepComparison struct {
	Name string `json:"name"`
	// Runs holds, per party in order, how it ran the step: "sandbox",
	// "qemu/tcg", with " (cached)" when the outputs came from its cache,
	// "placed" (before its --from), or "-" when it did not run it.
	Runs    []string `json:"runs"`
	Ran     int      `json:"ran"`     // parties that ran it
	Signers []string `json:"signers"` // distinct verified principals among them
	Files   int      `json:"files"`   // distinct output paths
	Differ  int      `json:"differ"`  // of which the parties disagree on
}

// Difference is one file on which two parties disagree.
type Difference struct {
	Step   string  `json:"step"`
	Path   string  `json:"path"`
	Claims []Claim `json:"claims"`
}

// Claim is one hash of a disputed file and the parties that said it.
type Claim struct {
	SHA256  string `json:"sha256"` // "" when the party ran the step but has no such file
	Parties []int  `json:"parties"`
}

// Compare lines up parties' runs of one chain (the caller checks they are
// of the same chain). A step counts for a party when it ran it (ok or
// unverified, from its cache or not); the quorum counts distinct
// principals of verified signatures.
func Compare(parties []Party, quorum int) *Comparison {
	c := &Comparison{Quorum: quorum, Parties: []PartySummary{}, Steps: []StepComparison{}, Differences: []Difference{}, ShortOfQuorum: []string{}}
	if len(parties) > 0 {
		c.Chain, c.ChainDigest = parties[0].Run.Chain, parties[0].Run.ChainDigest
	}
	var order []string
	seen := map[string]bool{}
	for i, p := range parties {
		ps := PartySummary{N: i + 1, File: p.File, Label: p.Label(), Signers: []string{}, KeyIDs: p.KeyIDs, Backend: p.Run.Backend, Accel: p.Run.Accel}
		if ps.KeyIDs == nil {
			ps.KeyIDs = []string{}
		}
		for _, s := range p.Signers {
			ps.Signers = append(ps.Signers, s.Name())
		}
		if !p.Run.Ended.IsZero() {
			ps.Ended = p.Run.Ended.UTC().Format(time.RFC3339)
		}
		c.Parties = append(c.Parties, ps)
		for _, s := range p.Run.Steps {
			if !seen[s.Name] {
				seen[s.Name] = true
				order = append(order, s.Name)
			}
		}
	}
	for _, name := range order {
		sc := StepComparison{Name: name, Signers: []string{}}
		hashes := map[string]map[string][]int{} // path -> sha256 -> parties
		var runners []int
		signers := map[string]bool{}
		for i, p := range parties {
			st, ok := p.Run.step(name)
			switch {
			case !ok || !ran(st.Status):
				cell := "-"
				if ok && st.Status == verify.StatusPlaced {
					cell = "placed"
				}
				sc.Runs = append(sc.Runs, cell)
				continue
			}
			cell := p.Run.Backend
			if p.Run.Accel != "" {
				cell += "/" + p.Run.Accel
			}
			if st.Cached {
				cell += " (cached)"
			}
			if st.Status == verify.StatusUnverified {
				cell += " unverified"
			}
			sc.Runs = append(sc.Runs, cell)
			sc.Ran++
			runners = append(runners, i)
			for _, s := range p.Signers {
				if !signers[s.Name()] {
					signers[s.Name()] = true
					sc.Signers = append(sc.Signers, s.Name())
				}
			}
			for _, o := range st.Outputs {
				if hashes[o.Path] == nil {
					hashes[o.Path] = map[string][]int{}
				}
				hashes[o.Path][o.SHA256] = append(hashes[o.Path][o.SHA256], i+1)
			}
		}
		paths := make([]string, 0, len(hashes))
		for p := range hashes {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		sc.Files = len(paths)
		for _, path := range paths {
			h := hashes[path]
			// A party that ran the step but has no such file disagrees too.
			said := map[int]bool{}
			for _, ps := range h {
				for _, n := range ps {
					said[n] = true
				}
			}
			for _, i := range runners {
				if !said[i+1] {
					h[""] = append(h[""], i+1)
				}
			}
			if len(h) < 2 {
				continue
			}
			sc.Differ++
			d := Difference{Step: name, Path: path}
			for sum, ps := range h {
				d.Claims = append(d.Claims, Claim{SHA256: sum, Parties: ps})
			}
			sort.Slice(d.Claims, func(a, b int) bool { return d.Claims[a].Parties[0] < d.Claims[b].Parties[0] })
			c.Differences = append(c.Differences, d)
		}
		if sc.Ran > 0 && len(sc.Signers) < quorum {
			c.ShortOfQuorum = append(c.ShortOfQuorum, name)
		}
		c.Steps = append(c.Steps, sc)
	}
	c.Agree = len(c.Differences) == 0
	c.OK = c.Agree && len(c.ShortOfQuorum) == 0
	return c
}

// step returns the run's step called name.
func (r Run) step(name string) (Step, bool) {
	for _, s := range r.Steps {
		if s.Name == name {
			return s, true
		}
	}
	return Step{}, false
}

// WriteText writes the comparison for a person: the parties, a table of
// steps by party, every disputed file with its hashes and who said which,
// and the verdict.
func (c *Comparison) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "chain %s, digest %s\n", c.Chain, c.ChainDigest)
	fmt.Fprintln(w, "parties:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, p := range c.Parties {
		back := p.Backend
		if p.Accel != "" {
			back += "/" + p.Accel
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", p.N, p.Label, p.File, back, p.Ended)
	}
	tw.Flush()
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "step")
	for _, p := range c.Parties {
		fmt.Fprintf(tw, "\t%d", p.N)
	}
	fmt.Fprint(tw, "\tsigners\toutputs\n")
	for _, s := range c.Steps {
		fmt.Fprint(tw, s.Name)
		for _, r := range s.Runs {
			fmt.Fprintf(tw, "\t%s", r)
		}
		var verdict string
		switch {
		case s.Ran == 0:
			verdict = "not run"
		case s.Differ > 0:
			verdict = fmt.Sprintf("DIFFER (%d of %s)", s.Differ, plural(s.Files, "file"))
		case s.Ran == 1:
			verdict = fmt.Sprintf("one party (%s)", plural(s.Files, "file"))
		default:
			verdict = fmt.Sprintf("agree (%s)", plural(s.Files, "file"))
		}
		fmt.Fprintf(tw, "\t%d\t%s\n", len(s.Signers), verdict)
	}
	tw.Flush()
	if len(c.Differences) > 0 {
		fmt.Fprintln(w, "differences:")
		for _, d := range c.Differences {
			fmt.Fprintf(w, "  step %s, file %s:\n", d.Step, d.Path)
			for _, cl := range d.Claims {
				sum := cl.SHA256
				if sum == "" {
					sum = "(no such file)"
				}
				var who []string
				for _, n := range cl.Parties {
					who = append(who, fmt.Sprintf("%d (%s)", n, c.Parties[n-1].Label))
				}
				fmt.Fprintf(w, "    %s  %s\n", sum, strings.Join(who, ", "))
			}
		}
	}
	if c.Quorum > 0 {
		if len(c.ShortOfQuorum) == 0 {
			fmt.Fprintf(w, "quorum %d: every step run is signed by %d or more distinct signers\n", c.Quorum, c.Quorum)
		} else {
			fmt.Fprintf(w, "quorum %d: not met for %s: %s\n", c.Quorum, plural(len(c.ShortOfQuorum), "step"), strings.Join(c.ShortOfQuorum, ", "))
		}
	}
	switch {
	case !c.Agree:
		fmt.Fprintf(w, "result: the parties disagree on %s\n", plural(len(c.Differences), "file"))
	case !c.OK:
		fmt.Fprintln(w, "result: the parties agree, short of the quorum")
	default:
		fmt.Fprintln(w, "result: the parties agree on every output")
	}
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}
