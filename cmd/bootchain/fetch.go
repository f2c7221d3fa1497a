package main

import (
	"context"
	"fmt"
	"io"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/source"
)

func cmdFetch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("fetch", "[--chain x86] [--from DIR] [--unverified]", stderr)
	name := fs.String("chain", "x86", "chain: an embedded name or a directory (contains '/')")
	from := fs.String("from", "", "import the archives from this directory instead of downloading (offline)")
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
	verifiedUse := map[string]bool{}
	for _, st := range c.Steps {
		for _, u := range st.Uses {
			verifiedUse[u] = verifiedUse[u] || !st.Unverified
		}
	}
	for _, src := range c.Sources {
		if used, any := verifiedUse[src.Name]; any && !used && !*unverified {
			fmt.Fprintf(stdout, "%s: used only in the unverified section; --unverified fetches it\n", src.Name)
			continue
		}
		if src.Local != nil {
			fmt.Fprintf(stdout, "%s: local (in the chain directory), nothing to fetch\n", src.Name)
			continue
		}
		var path string
		if *from != "" {
			path, err = source.Import(src, *from, cache)
		} else {
			path, err = source.Fetch(ctx, src, cache, stderr)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s\n", src.Name, path)
	}
	return nil
}
