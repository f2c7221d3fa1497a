package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/bootchain/bootchain/bundle"
	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/source"
	"github.com/bootchain/bootchain/verify"
)

// cmdExport writes the verified outputs of a chain's steps up to one step,
// from the cache, into a deterministic archive another machine can import.
func cmdExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("export", "[--chain x86] --until STEP FILE", stderr)
	name := fs.String("chain", "x86", "the `CHAIN`: an embedded name (x86) or a directory (contains '/')")
	until := fs.String("until", "", "export the verified outputs of the steps up to this `STEP` (required)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("export: expected one FILE (the archive to write; .tar, or .tar.gz to compress), found %d arguments", len(pos))
	}
	if *until == "" {
		return usagef("export: --until STEP is required: the last step whose outputs go into the archive")
	}
	c, err := chain.Load(*name)
	if err != nil {
		return err
	}
	if c.StepIndex(*until) < 0 {
		return usagef("export: --until %s: chain %s has no such step", *until, c.Name)
	}
	cache, err := source.CacheDir()
	if err != nil {
		return err
	}
	file := pos[0]
	gz := strings.HasSuffix(file, ".gz") || strings.HasSuffix(file, ".tgz")
	dir := filepath.Dir(file)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(file)+".tmp-*")
	if err != nil {
		return fmt.Errorf("export %s: %w", file, err)
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	sum, err := bundle.Export(ctx, io.MultiWriter(tmp, h), c, *until, cache, gz)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err != nil {
		return fmt.Errorf("export %s: %w", file, err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("export %s: %w", file, err)
	}
	fmt.Fprintf(stdout, "%s: chain %s, %s up to %s (%d files, %d bytes), every file re-hashed against its pin\n",
		file, c.Name, plural(len(sum.Steps), "step"), *until, sum.Files, sum.Bytes)
	fmt.Fprintf(stdout, "sha256 %s\n", hex.EncodeToString(h.Sum(nil)))
	if next := c.StepIndex(*until) + 1; next < len(c.Steps) {
		fmt.Fprintf(stdout, "elsewhere: bootchain import %s && bootchain run --from %s\n", filepath.Base(file), c.Steps[next].Name)
	}
	return nil
}

// cmdImport checks an archive from anyone against the chain's pins and,
// when every file matches, puts its steps into the cache.
func cmdImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("import", "[--chain x86] FILE", stderr)
	name := fs.String("chain", "x86", "the `CHAIN`: an embedded name (x86) or a directory (contains '/')")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("import: expected one FILE (an archive bootchain export wrote), found %d arguments", len(pos))
	}
	c, err := chain.Load(*name)
	if err != nil {
		return err
	}
	cache, err := source.CacheDir()
	if err != nil {
		return err
	}
	f, err := verify.OpenRegular(pos[0])
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	sum, err := bundle.Import(ctx, f, c, cache)
	if err != nil {
		return fmt.Errorf("import %s: %w; the cache was not changed", pos[0], err)
	}
	fmt.Fprintf(stdout, "%s: chain %s, %s up to %s (%d files), every file matched its pin; now in the cache\n",
		pos[0], c.Name, plural(len(sum.Steps), "step"), sum.Until, sum.Files)
	if next := c.StepIndex(sum.Until) + 1; next < len(c.Steps) {
		fmt.Fprintf(stdout, "next: bootchain run --from %s\n", c.Steps[next].Name)
	}
	return nil
}
