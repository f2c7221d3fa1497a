package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/verify"
)

func cmdVerify(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("verify", "[--chain x86] [--until STEP] [--unverified] [-v] DIR", stderr)
	name := fs.String("chain", "x86", "chain: an embedded name or a directory (contains '/')")
	until := fs.String("until", "", "check the tree as it stands after this step")
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
		*until = c.DefaultUntil
		for i := 0; *until == "" && i < len(c.Steps) && !c.Steps[i].Unverified; i++ {
			if i+1 == len(c.Steps) || c.Steps[i+1].Unverified {
				*until = c.Steps[i].Name
			}
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
			fmt.Fprintf(stdout, "FAILED  %s: %s, expected sha256 %s\n", r.Path, problem, r.Expected)
		case !r.OK:
			bad++
			fmt.Fprintf(stdout, "FAILED  %s: sha256 is %s, expected %s\n", r.Path, r.SHA256, r.Expected)
		case *all:
			fmt.Fprintf(stdout, "ok      %s\n", r.Path)
		}
	}
	if bad > 0 {
		fmt.Fprintf(stderr, "bootchain: verify %s: %d of %d pinned files of chain %s do not match\n", pos[0], bad, len(results), c.Name)
		return failure{fmt.Errorf("%d files do not match", bad)}
	}
	fmt.Fprintf(stdout, "%s: all %d pinned files of chain %s match (digest %s)\n", pos[0], len(results), c.Name, c.Digest())
	return nil
}
