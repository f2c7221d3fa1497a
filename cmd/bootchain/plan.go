package main

import (
	"fmt"
	"io"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/engine"
	"github.com/bootchain/bootchain/source"
)

func cmdPlan(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plan", "[--chain x86] [-v] | --list", stderr)
	name := fs.String("chain", "x86", "the `CHAIN`: an embedded name (x86, amd64) or a directory (contains '/')")
	full := fs.Bool("v", false, "show every step's command, environment, inputs, pinned outputs, cache state and key, and every source's mirrors")
	list := fs.Bool("list", false, "list the chains built into bootchain, one a line: name, arch, description")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("plan: unexpected argument %q", pos[0])
	}
	if *list {
		return listChains(stdout)
	}
	c, err := chain.Load(*name)
	if err != nil {
		return err
	}
	cache, err := source.CacheDir()
	if err != nil {
		return err
	}
	st, err := engine.Plan(c, cache)
	if err != nil {
		return err
	}
	if *full {
		return c.WritePlan(stdout, st)
	}
	return c.WritePlanShort(stdout, st)
}

// listChains writes one line per embedded chain: its name, the seed set it
// starts from and its description.
func listChains(w io.Writer) error {
	for _, n := range chain.Embedded() {
		c, err := chain.Load(n)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "%-8s arch %-6s %s\n", c.Name, c.Arch, c.Describe); err != nil {
			return err
		}
	}
	return nil
}
