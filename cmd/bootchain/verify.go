package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/termsafe"
	"github.com/bootchain/bootchain/verify"
)

func cmdVerify(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("verify", "[--chain x86] [--until STEP] [--unverified] [-v] DIR", stderr)
	name := fs.String("chain", "x86", "the `CHAIN`: an embedded name (x86, amd64) or a directory (contains '/')")
	until := fs.String("until", "", "check the tree as it stands after this `STEP`")
	unverified := fs.Bool("unverified", false, "check the outputs of the unverified section too")
	all := fs.Bool("v", false, "list every file checked, not only failures")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("verify: expected one directory, found %d arguments", len(pos))
	}
	c, err := chain.Load(*name)
	if err != nil {
		return err
	}
	if *until != "" && c.StepIndex(*until) < 0 {
		return usagef("verify: --until %s: chain %s has no such step", *until, c.Name)
	}
	if *until == "" && !*unverified {
		// Like run: stop at the chain's default-until, else before the
		// unverified section.
		if i := c.PlainStop(); i >= 0 {
			*until = c.Steps[i].Name
		}
	}
	pins := c.FinalPins(*until)
	var list strings.Builder
	for _, p := range chain.SortedPaths(pins) {
		fmt.Fprintf(&list, "%s  %s\n", pins[p], p)
	}
	results, err := verify.CheckList(pos[0], strings.NewReader(list.String()))
	if err != nil {
		return err
	}
	bad := 0
	for _, r := range results {
		switch {
		case !r.OK && r.SHA256 == "":
			bad++
			problem := r.Problem
			if problem == "" {
				problem = "missing"
			}
			fmt.Fprintf(stdout, "FAILED  %s: %s, expected sha256 %s\n", termsafe.Escape(r.Path), problem, r.Expected)
		case !r.OK:
			bad++
			fmt.Fprintf(stdout, "FAILED  %s: sha256 is %s, expected %s\n", termsafe.Escape(r.Path), r.SHA256, r.Expected)
		case *all:
			fmt.Fprintf(stdout, "ok      %s\n", termsafe.Escape(r.Path))
		}
	}
	writeStepChecks(stdout, c, *until, results)
	if bad > 0 {
		fmt.Fprintf(stderr, "bootchain: verify %s: %d of %d pinned files of chain %s do not match\n", pos[0], bad, len(results), c.Name)
		return failure{fmt.Errorf("%d files do not match", bad)}
	}
	fmt.Fprintf(stdout, "%s: all %d pinned files of chain %s match (digest %s)\n", pos[0], len(results), c.Name, c.Digest())
	return nil
}

// writeStepChecks prints one line per step checked: how many of the
// pinned files it leaves (those no later step rewrites) match, numbered
// as a run to the same step numbers its progress.
func writeStepChecks(w io.Writer, c *chain.Chain, until string, results []verify.Result) {
	last := len(c.Steps) - 1
	if i := c.StepIndex(until); i >= 0 {
		last = i
	}
	owner := map[string]int{}
	for i := 0; i <= last; i++ {
		for p := range c.Steps[i].Outputs {
			owner[p] = i
		}
	}
	byPath := map[string]verify.Result{}
	for _, r := range results {
		byPath[r.Path] = r
	}
	for i := 0; i <= last; i++ {
		st := c.Steps[i]
		var n, bad int
		var first string
		for _, p := range chain.SortedPaths(st.Outputs) {
			if owner[p] != i {
				continue
			}
			n++
			if r, ok := byPath[p]; !ok || !r.OK {
				if bad == 0 {
					first = p
				}
				bad++
			}
		}
		line := fmt.Sprintf("step %d/%d %s: ", i+1, last+1, st.Name)
		switch {
		case st.Pending != "":
			line += "pending, nothing to check"
		case n == 0 && len(st.Outputs) == 0:
			line += "no pinned files"
		case bad == 0 && n == 1:
			line += "1 pinned file matches"
		case bad == 0:
			line += fmt.Sprintf("%d pinned files match", n)
		case n == 1:
			line += fmt.Sprintf("its 1 pinned file does not match (%s)", first)
		case bad == 1:
			line += fmt.Sprintf("1 of %d pinned files does not match (%s)", n, first)
		default:
			line += fmt.Sprintf("%d of %d pinned files do not match (first %s)", bad, n, first)
		}
		if r := len(st.Outputs) - n; r > 0 {
			line += fmt.Sprintf("; %d rewritten by a later step, checked there", r)
		}
		if st.Unverified {
			line += "; unverified section"
		}
		fmt.Fprintln(w, line)
	}
}
