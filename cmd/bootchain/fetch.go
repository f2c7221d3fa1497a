package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/source"
	"github.com/bootchain/bootchain/verify"
)

func cmdFetch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("fetch", "[--chain x86] [--until STEP] [--unverified] [--from DIR]", stderr)
	name := fs.String("chain", "x86", "the `CHAIN`: an embedded name (x86, amd64) or a directory (contains '/')")
	from := fs.String("from", "", "import the archives from this `DIR` instead of downloading (offline)")
	until := fs.String("until", "", "fetch what the steps up to this `STEP` use (default: what a plain run needs, up to the chain's default-until)")
	unverified := fs.Bool("unverified", false, "also fetch the sources only the chain's unverified section uses")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("fetch: unexpected argument %q", pos[0])
	}
	c, err := chain.Load(*name)
	if err != nil {
		return err
	}
	cache, err := source.CacheDir()
	if err != nil {
		return err
	}
	skip, err := neededSources(c, *until, *unverified)
	if err != nil {
		return err
	}
	// What is left alone is said first, then what was fetched, then
	// what is missing, with what to do about it.
	for _, src := range c.Sources {
		if why, ok := skip[src.Name]; ok {
			fmt.Fprintf(stdout, "%s: %s\n", src.Name, why)
		}
	}
	var dist *source.Distfiles
	if *from != "" {
		if fi, err := os.Stat(*from); err != nil || !fi.IsDir() {
			return fmt.Errorf("fetch --from %s: expected a directory of archives, found none", *from)
		}
		dist = source.NewDistfiles(*from)
	}
	var missing source.MissingErrors
	for _, src := range c.Sources {
		if _, ok := skip[src.Name]; ok {
			continue
		}
		if src.Local != nil {
			fmt.Fprintf(stdout, "%s: local (in the chain directory), nothing to fetch\n", src.Name)
			continue
		}
		// Files an earlier run imported (from --source NAME=TREE, or
		// unpacked) are what a run uses: nothing to fetch.
		if t := source.Cached(ctx, src, cache); t != nil {
			from := "unpacked earlier"
			if t.Form == verify.FormTree {
				from = "imported from a tree"
			} else if t.Form == verify.FormArchive {
				from = "unpacked from its archive"
			}
			fmt.Fprintf(stdout, "%s: %s (in the cache, %s; every pinned file checked)\n", src.Name, t.Root, from)
			continue
		}
		var path string
		if dist != nil {
			path, err = dist.Import(ctx, src, cache)
		} else {
			path, err = source.Fetch(ctx, src, cache, stderr)
		}
		var me *source.MissingError
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &me):
			// Go on: every source that can be had is had before the
			// command names what is missing.
			if *name != "x86" {
				me.Chain = *name
			}
			me.Until, me.Unverified = *until, *unverified
			missing = append(missing, me)
			continue
		case err != nil:
			return err
		}
		fmt.Fprintf(stdout, "%s: %s\n", src.Name, path)
	}
	if len(missing) > 0 {
		return missing
	}
	return nil
}

// neededSources says which sources fetch leaves alone, and why: those
// only steps after until use (until defaults to the chain's
// default-until, so a plain fetch gets what a plain run needs), and those
// only unverified steps use, unless unverified.
func neededSources(c *chain.Chain, until string, unverified bool) (map[string]string, error) {
	last := len(c.Steps) - 1
	if until == "" && !unverified {
		until = c.DefaultUntil
	}
	if until != "" {
		last = c.StepIndex(until)
		if last < 0 {
			return nil, fmt.Errorf("fetch: --until %s: chain %s has no such step", until, c.Name)
		}
	}
	firstUse := map[string]int{}
	for i := len(c.Steps) - 1; i >= 0; i-- {
		for _, u := range c.Steps[i].Uses {
			firstUse[u] = i
		}
	}
	skip := map[string]string{}
	for name, i := range firstUse {
		st := c.Steps[i]
		switch {
		case st.Unverified && !unverified:
			skip[name] = "used only in the unverified section; --unverified fetches it"
		case i > last:
			skip[name] = fmt.Sprintf("first used by step %s, after %s; --until %s fetches it", st.Name, c.Steps[last].Name, st.Name)
		}
	}
	return skip, nil
}
