package main

import (
	"io"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/engine"
	"github.com/bootchain/bootchain/source"
)

func cmdPlan(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plan", "[--chain x86] [-v]", stderr)
	name := fs.String("chain", "x86", "the `CHAIN`: an embedded name (x86) or a directory (contains '/')")
	full := fs.Bool("v", false, "show every step's command, environment, inputs, pinned outputs, cache state and key, and every source's mirrors")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("plan: unexpected argument %q", pos[0])
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
