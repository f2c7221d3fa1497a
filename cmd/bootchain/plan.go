package main

import (
	"io"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/engine"
	"github.com/bootchain/bootchain/source"
)

func cmdPlan(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plan", "[--chain x86]", stderr)
	name := fs.String("chain", "x86", "chain: an embedded name or a directory (contains '/')")
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
	return c.WritePlan(stdout, st)
}
