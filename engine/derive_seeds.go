package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bootchain/bootchain/verify"
)

// maxSeedSize bounds a seed read from --seeds: stage0 seeds are a few
// hundred bytes, so anything near this is not a seed.
const maxSeedSize = 1 << 20

// seedFiles returns the files the seeds put in every root: bootchain's
// own, or, with Options.SeedDir, another party's seeds in their place
// (the seeds' commented sources a chain places stay bootchain's). It
// records both sets in the report.
func (r *run) seedFiles() ([]seedFile, error) {
	ours, err := seedFiles(r.c)
	if err != nil {
		return nil, err
	}
	for _, s := range ours {
		if !s.source {
			r.report.Seeds[s.name] = s.sha256
		}
	}
	if r.opts.SeedDir == "" {
		return ours, nil
	}
	theirs, err := otherSeeds(ours, r.opts.SeedDir)
	if err != nil {
		return nil, err
	}
	r.report.SeedsOurs = r.report.Seeds
	r.report.Seeds = map[string]string{}
	for _, s := range theirs {
		if !s.source {
			r.report.Seeds[s.name] = s.sha256
		}
	}
	r.log.WithField("dir", r.opts.SeedDir).Info("running with the seeds from --seeds")
	return theirs, nil
}

// otherSeeds replaces the seeds of ours (not their sources) with the files
// of the same names in dir.
func otherSeeds(ours []seedFile, dir string) ([]seedFile, error) {
	var names []string
	for _, s := range ours {
		if !s.source {
			names = append(names, s.name)
		}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("--seeds %s: expected a directory holding %s: %w", dir, joinAnd(names), err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("--seeds %s: expected a directory holding %s, found a file", dir, joinAnd(names))
	}
	out := make([]seedFile, len(ours))
	for i, s := range ours {
		out[i] = s
		if s.source {
			continue
		}
		p := filepath.Join(dir, s.name)
		b, err := readSeed(p)
		if err != nil {
			return nil, fmt.Errorf("--seeds %s: seed %s: %w (a seed directory holds %s, as `bootchain seeds --out DIR` writes them or upstream's bootstrap-seeds/POSIX/<arch> holds them)", dir, s.name, err, joinAnd(names))
		}
		sum := sha256.Sum256(b)
		out[i].bytes, out[i].sha256 = b, hex.EncodeToString(sum[:])
	}
	return out, nil
}

// readSeed reads one seed file: a non-empty regular file of at most
// maxSeedSize bytes.
func readSeed(p string) ([]byte, error) {
	f, err := verify.OpenRegular(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("expected %s, found no such file", p)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("expected %s to be a regular file, found %s", p, fi.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSeedSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	switch {
	case len(b) == 0:
		return nil, fmt.Errorf("expected a seed program in %s, found an empty file", p)
	case len(b) > maxSeedSize:
		return nil, fmt.Errorf("expected a seed of at most %d bytes in %s, found a larger file", maxSeedSize, p)
	}
	return b, nil
}

func joinAnd(names []string) string {
	switch len(names) {
	case 0:
		return "the seeds"
	case 1:
		return names[0]
	}
	s := names[0]
	for _, n := range names[1 : len(names)-1] {
		s += ", " + n
	}
	return s + " and " + names[len(names)-1]
}
