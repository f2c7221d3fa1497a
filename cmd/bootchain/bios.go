package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/bootchain/bootchain/builderhex0"
	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/engine"
	"github.com/bootchain/bootchain/qemu"
	"github.com/bootchain/bootchain/source"
	"github.com/bootchain/bootchain/verify"
)

// biosGuest returns the chain, the guest the builder-hex0 backend boots
// for it (the same verified root and steps) and the sources without
// builder-hex0's, which is returned apart.
func biosGuest(ctx context.Context, cmd, name, until string, unverified bool, sources sourceFlags) (*chain.Chain, qemu.Guest, string, error) {
	c, err := chain.Load(name)
	if err != nil {
		return nil, qemu.Guest{}, "", err
	}
	if until != "" && c.StepIndex(until) < 0 {
		return nil, qemu.Guest{}, "", usagef("%s: --until %s: chain %s has no such step", cmd, until, c.Name)
	}
	srcs := map[string]string{}
	bh := ""
	for n, p := range sources {
		if n == builderhex0.SourceName {
			bh = p
			continue
		}
		if _, ok := c.Source(n); !ok {
			return nil, qemu.Guest{}, "", usagef("%s: --source %s: chain %s has no source %s", cmd, n, c.Name, n)
		}
		srcs[n] = p
	}
	g, err := engine.QEMUGuest(ctx, engine.Options{Chain: c, Sources: srcs, Until: until, Unverified: unverified})
	if err != nil {
		return nil, qemu.Guest{}, "", err
	}
	return c, g, bh, nil
}

// buildBIOSImage writes the builder-hex0 disk of a chain to out: the disk
// `run --backend builder-hex0` boots, for a PC that boots BIOS or CSM.
func buildBIOSImage(ctx context.Context, stdout io.Writer, name, until string, unverified bool, sources sourceFlags, out string) error {
	c, g, bh, err := biosGuest(ctx, "image", name, until, unverified, sources)
	if err != nil {
		return err
	}
	cache, err := source.CacheDir()
	if err != nil {
		return err
	}
	k, err := builderhex0.LoadKernel(ctx, bh, cache)
	if err != nil {
		return err
	}
	script, err := builderhex0.Script(g)
	if err != nil {
		return err
	}
	if err := builderhex0.WriteImageFile(out, k, script, builderhex0.DefaultImageSize); err != nil {
		return err
	}
	d, err := builderhex0.Inspect(out)
	if err != nil {
		return err
	}
	var steps []string
	for _, s := range g.Steps {
		steps = append(steps, s.Name)
	}
	fmt.Fprintf(stdout, "%s: builder-hex0 BIOS disk, %d bytes (sparse)\n", out, d.Size)
	fmt.Fprintf(stdout, "boot sector  %s  (stage 1, assembled from %s)\n", d.Stage1SHA256, builderhex0.Stage1File)
	fmt.Fprintf(stdout, "kernel hex0  %s  (%s, commit %s)\n", d.Stage2SHA256, builderhex0.Stage2File, builderhex0.Commit[:12])
	fmt.Fprintf(stdout, "script       %d bytes from sector %d: the verified sources, then %s\n", d.ScriptBytes, builderhex0.ScriptSector, strings.Join(steps, ", "))
	fmt.Fprintf(stdout, "chain digest %s\n", c.Digest())
	fmt.Fprintf(stdout, "Boot it with BIOS or CSM (legacy) from USB. When the screen shows eight hex digits (the result's length) the machine reboots:\nthen read the stick with: bootchain image --bios --result DEV --chain %s", name)
	if until != "" {
		fmt.Fprintf(stdout, " --until %s", until)
	}
	fmt.Fprintf(stdout, " [--length HEX]\n")
	return nil
}

// checkBIOSResult reads the result area a PC wrote to a builder-hex0
// disk and holds every output against its pin.
func checkBIOSResult(ctx context.Context, stdout io.Writer, name, until string, unverified bool, sources sourceFlags, disk, length string) error {
	c, g, _, err := biosGuest(ctx, "image", name, until, unverified, sources)
	if err != nil {
		return err
	}
	n := int64(-1)
	if length != "" {
		v, err := strconv.ParseInt(length, 16, 64)
		if err != nil || v < 0 {
			return usagef("image: --length %s: expected the eight hex digits the machine printed", length)
		}
		n = v
	}
	res, size, err := builderhex0.ReadResult(disk, g, n)
	if err != nil {
		return fmt.Errorf("%s: %w", disk, err)
	}
	fmt.Fprintf(stdout, "%s: result area of %d bytes (%08X)\n", disk, size, size)
	ok := 0
	for _, s := range res.Steps {
		gs := g.Steps[s.Step-1]
		i := c.StepIndex(gs.Name)
		if i < 0 {
			continue // the guest's own tools
		}
		st := c.Steps[i]
		for _, o := range s.Outputs {
			got := imageHash(o.Data)
			r := verify.Result{Path: o.Path, SHA256: got, Expected: st.Outputs[o.Path], OK: got == st.Outputs[o.Path]}
			if !r.OK && !st.Unverified {
				return r.Err(st.Name)
			}
		}
		ok++
		fmt.Fprintf(stdout, "step %s: ok, %d outputs match their pins\n", st.Name, len(s.Outputs))
	}
	if !res.Done {
		return fmt.Errorf("step %s: the command failed on the machine (its screen shows why); %d steps before it verified", g.Steps[res.Failed-1].Name, ok)
	}
	if ok == 0 {
		return errors.New("no step ran")
	}
	fmt.Fprintf(stdout, "%d steps verified: every output was hashed on this machine and matches its pin (chain %s, digest %s)\n", ok, c.Name, c.Digest())
	return nil
}
