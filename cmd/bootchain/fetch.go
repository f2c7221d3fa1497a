package main

import (
	"context"
	"fmt"
	"io"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/source"
)

func cmdFetch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("fetch", "[--chain x86] [--from DIR]", stderr)
	name := fs.String("chain", "x86", "chain: an embedded name or a directory (contains '/')")
	from := fs.String("from", "", "import the archives from this directory instead of downloading (offline)")
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
	for _, src := range c.Sources {
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
