package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bootchain/bootchain/hex0"
)

func cmdSeeds(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("seeds", "[--arch x86|amd64] --out DIR", stderr)
	arch := fs.String("arch", "x86", "`ARCH`: "+strings.Join(hex0.Arches, " or "))
	out := fs.String("out", "", "`DIR` to write hex0-seed and kaem-optional-seed into (created if missing)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("seeds: unexpected argument %q", pos[0])
	}
	if *out == "" {
		return usagef("seeds: expected --out DIR")
	}
	if !slices.Contains(hex0.Arches, *arch) {
		return usagef("seeds: --arch %s: expected one of %s", *arch, strings.Join(hex0.Arches, ", "))
	}
	seeds, err := hex0.BuildAll(*arch)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("seeds: %w", err)
	}
	for _, s := range seeds {
		p := filepath.Join(*out, s.Name)
		if err := writeAtomic(p, s.Bytes, 0o755); err != nil {
			return fmt.Errorf("seeds: %w", err)
		}
		fmt.Fprintf(stdout, "%-20s %5d bytes  sha256 %s\n", p, len(s.Bytes), s.SHA256)
	}
	return nil
}

// writeAtomic writes b to path through a temporary file in the same
// directory, synced and renamed, so path never holds a partial file.
func writeAtomic(path string, b []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
