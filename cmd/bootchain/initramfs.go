package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/engine"
	"github.com/bootchain/bootchain/initramfs"
	"github.com/bootchain/bootchain/verify"
)

func cmdInitramfs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("initramfs", "[--chain x86] [--source NAME=PATH]... [--until STEP] [--unverified] [--seeds DIR] [--gzip] --out FILE", stderr)
	name := fs.String("chain", "x86", "the `CHAIN`: an embedded name (x86, amd64) or a directory (contains '/')")
	sources := sourceFlags{}
	fs.Var(sources, "source", "`NAME=PATH`: supply source NAME from PATH (an archive or an unpacked tree); repeatable")
	until := fs.String("until", "", "the guest runs the steps up to this `STEP`")
	unverified := fs.Bool("unverified", false, "include the chain's unverified section")
	seedDir := fs.String("seeds", "", "boot another party's seeds, as run --seeds does: a `DIR` holding hex0-seed and kaem-optional-seed")
	gzip := fs.Bool("gzip", false, "compress the archive (deterministic gzip)")
	out := fs.String("out", "", "write the archive to this `FILE`")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("initramfs: unexpected argument %q", pos[0])
	}
	if *out == "" {
		return usagef("initramfs: expected --out FILE")
	}
	c, err := chain.Load(*name)
	if err != nil {
		return err
	}
	if *until != "" && c.StepIndex(*until) < 0 {
		return usagef("initramfs: --until %s: chain %s has no such step", *until, c.Name)
	}
	for n := range sources {
		if _, ok := c.Source(n); !ok {
			return usagef("initramfs: --source %s: chain %s has no source %s", n, c.Name, n)
		}
	}
	g, err := engine.QEMUGuest(ctx, engine.Options{Chain: c, Sources: sources, Until: *until, Unverified: *unverified, SeedDir: *seedDir})
	if err != nil {
		return err
	}
	entries, err := g.Entries()
	if err != nil {
		return err
	}
	if err := initramfs.WriteFile(*out, entries, initramfs.Options{Gzip: *gzip}); err != nil {
		return fmt.Errorf("initramfs %s: %w", *out, err)
	}
	sum, err := verify.File(*out)
	if err != nil {
		return fmt.Errorf("initramfs %s: %w", *out, err)
	}
	var steps []string // the chain's, less the guest's own helper steps
	for _, s := range g.Steps {
		if c.StepIndex(s.Name) >= 0 {
			steps = append(steps, s.Name)
		}
	}
	fmt.Fprintf(stdout, "initramfs %s: chain %s, steps %s, sha256 %s\n", *out, c.Name, strings.Join(steps, " "), sum)
	fmt.Fprintf(stdout, "kernel command line: %s\n", g.KernelArgs())
	return nil
}
