package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/engine"
	"github.com/bootchain/bootchain/source"
	"github.com/bootchain/bootchain/termsafe"
	"github.com/bootchain/bootchain/verify"
)

func cmdDerive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("derive", "[--chain x86] [--source NAME=PATH]... [--work DIR] [--report FILE]", stderr)
	name := fs.String("chain", "x86", "the `CHAIN`: an embedded name (x86, amd64) or a directory (contains '/')")
	sources := sourceFlags{}
	fs.Var(sources, "source", "`NAME=PATH`: supply source NAME from PATH (an archive or an unpacked tree); repeatable")
	work := fs.String("work", "", "a `DIR` left by bootchain run --work: compare with its files, and derive what rests on its compilers' outputs")
	reportPath := fs.String("report", "", "write the JSON report (run's shape) to this `FILE`")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("derive: unexpected argument %q", pos[0])
	}
	c, err := chain.Load(*name)
	if err != nil {
		return err
	}
	for n := range sources {
		if _, ok := c.Source(n); !ok {
			return usagef("derive: --source %s: chain %s has no source %s", n, c.Name, n)
		}
	}
	if *reportPath != "" {
		if err := verify.CheckReportPath(*reportPath); err != nil {
			return err
		}
	}
	res, err := engine.Derive(ctx, engine.DeriveOptions{Chain: c, Sources: sources, WorkDir: *work})
	if err != nil {
		var missing *source.MissingError
		if errors.As(err, &missing) && *name != "x86" {
			missing.Chain = *name
		}
		return err
	}
	if *reportPath != "" {
		if err := verify.WriteReport(*reportPath, res.Report); err != nil {
			return fmt.Errorf("report %s: %w", *reportPath, err)
		}
	}
	writeDerivation(stdout, c, res, *work)
	if !res.Report.OK {
		bad := 0
		for _, d := range res.Derived {
			if !d.OK() {
				bad++
			}
		}
		fmt.Fprintf(stderr, "bootchain: derive %s: %d of %d derived outputs do not match: %s\n", c.Name, bad, len(res.Derived), res.Report.Error)
		return failure{fmt.Errorf("%d derived outputs do not match", bad)}
	}
	return nil
}

// writeDerivation prints, step by step, every pinned output the Go twins
// re-derived (and from what), every one they could not (and why), and a
// summary.
func writeDerivation(w io.Writer, c *chain.Chain, res *engine.Derivation, work string) {
	byStep := map[string][]engine.DerivedOutput{}
	for _, d := range res.Derived {
		byStep[d.Step] = append(byStep[d.Step], d)
	}
	notByStep := map[string][]engine.Underived{}
	for _, u := range res.Underived {
		notByStep[u.Step] = append(notByStep[u.Step], u)
	}
	alone := 0
	for i, st := range c.Steps {
		if !st.Derive || st.Unverified {
			fmt.Fprintf(w, "step %d/%d %s: not a derive step\n", i+1, len(c.Steps), st.Name)
			continue
		}
		fmt.Fprintf(w, "step %d/%d %s\n", i+1, len(c.Steps), st.Name)
		for _, d := range byStep[st.Name] {
			mark := "derived: yes"
			if len(d.Given) > 0 {
				mark += " (given the run's " + strings.Join(d.Given, " ") + ")"
			} else {
				alone++
			}
			switch {
			case d.SHA256 != d.Pin:
				mark = fmt.Sprintf("FAILED: the Go twins derive this, the chain pins %s", d.Pin)
			case d.Compared && d.Run == "":
				mark += "  FAILED: missing from the run's tree"
			case d.Compared && d.Run != d.Pin:
				mark += fmt.Sprintf("  FAILED: the run's file has %s", d.Run)
			}
			fmt.Fprintf(w, "    %s  %s  %s\n", d.SHA256, termsafe.Escape(d.Path), mark)
		}
		for _, u := range notByStep[st.Name] {
			fmt.Fprintf(w, "    not derived  %s: %s\n", u.Path, u.Reason)
		}
	}
	against := "their pins"
	if work != "" {
		against += " and the run's files in " + work
	}
	verdict := "all equal " + against
	if !res.Report.OK {
		verdict = "NOT all equal " + against
	}
	fmt.Fprintf(w, "chain %s: %d outputs re-derived by the Go twins (%d from the pinned sources alone, %d given a run's compiler outputs), %s; %d not derived\n",
		c.Name, len(res.Derived), alone, len(res.Derived)-alone, verdict, len(res.Underived))
}

// writeRunOutputs prints a run's verified outputs with their hashes, each
// marked "derived: yes" when the Go twins re-derived it, and the seeds when
// they were another party's.
func writeRunOutputs(w io.Writer, rep *verify.Report, seedDir string) {
	if rep.SeedsOurs != nil {
		fmt.Fprintf(w, "seeds from %s (bootchain's own in brackets)\n", seedDir)
		for _, n := range chain.SortedPaths(rep.Seeds) {
			fmt.Fprintf(w, "    %s  %s  (%s)\n", rep.Seeds[n], termsafe.Escape(n), rep.SeedsOurs[n])
		}
	}
	for i, s := range rep.Steps {
		if len(s.Outputs) == 0 || s.Status == verify.StatusSkipped {
			continue
		}
		fmt.Fprintf(w, "step %d/%d %s\n", i+1, len(rep.Steps), s.Name)
		for _, o := range s.Outputs {
			mark := ""
			switch {
			case o.Derived:
				mark = "  derived: yes"
			case o.Problem == verify.ProblemNotPinned:
				mark = "  not pinned (unverified)"
			}
			fmt.Fprintf(w, "    %s  %s%s\n", o.SHA256, termsafe.Escape(o.Path), mark)
		}
	}
}
