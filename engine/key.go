package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/hex0"
)

// keyVersion changes whenever the meaning of a key changes, so that old
// store entries are never reused under a new meaning.
const keyVersion = "bootchain step key 1"

// Key returns the cache key of step: the SHA-256 over the step's canonical
// definition (command, working directory, environment, pinned outputs) and
// every file of the root it starts from (path and SHA-256, seeds included).
// The step's name, description and time limit are not part of it: the same
// command on the same files promises the same outputs.
func Key(step chain.Step, inputs map[string]string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", keyVersion)
	fmt.Fprintf(h, "argv %d\n", len(step.Argv))
	for _, a := range step.Argv {
		fmt.Fprintf(h, "  %q\n", a)
	}
	fmt.Fprintf(h, "dir %q\n", step.Dir)
	fmt.Fprintf(h, "env %d\n", len(step.Env))
	for _, e := range step.Env {
		fmt.Fprintf(h, "  %q\n", e)
	}
	writePins(h, "input", inputs)
	writePins(h, "output", step.Outputs)
	return hex.EncodeToString(h.Sum(nil))
}

func writePins(w io.Writer, what string, m map[string]string) {
	fmt.Fprintf(w, "%s %d\n", what, len(m))
	for _, p := range chain.SortedPaths(m) {
		fmt.Fprintf(w, "  %s %q\n", m[p], p)
	}
}

// seedFile is one file the seeds put in every root: a seed or a seed's
// commented source.
type seedFile struct {
	path   string
	bytes  []byte
	mode   uint32
	sha256 string
	name   string // seed name
	source bool   // the seed's hex0 source, not the seed
}

// seedFiles builds the chain's seeds from their embedded sources (checked
// against their pins by package hex0) and returns the files they place.
func seedFiles(c *chain.Chain) ([]seedFile, error) {
	built, err := hex0.BuildAll(c.Arch)
	if err != nil {
		return nil, fmt.Errorf("seeds %s: %w", c.Arch, err)
	}
	byName := map[string]hex0.Seed{}
	for _, s := range built {
		byName[s.Name] = s
	}
	var fs []seedFile
	for _, s := range c.Seeds {
		b, ok := byName[s.Name]
		if !ok {
			return nil, fmt.Errorf("seed %s: expected one of the %s seeds, found none by that name", s.Name, c.Arch)
		}
		fs = append(fs, seedFile{path: s.Path, bytes: b.Bytes, mode: 0o755, sha256: b.SHA256, name: s.Name})
		if s.Source != "" {
			src, err := hex0.Source(c.Arch, s.Name)
			if err != nil {
				return nil, err
			}
			sum := sha256.Sum256(src)
			fs = append(fs, seedFile{path: s.Source, bytes: src, mode: 0o644, sha256: hex.EncodeToString(sum[:]), name: s.Name, source: true})
		}
	}
	return fs, nil
}

// PlannedKeys returns each step's cache key as the pins predict it: the
// root before step i holds the seeds, the pinned files of every source used
// by steps 0..i and the pinned outputs of steps 0..i-1. A run whose every
// step verifies computes the same keys.
func PlannedKeys(c *chain.Chain) ([]string, error) {
	seeds, err := seedFiles(c)
	if err != nil {
		return nil, err
	}
	state := map[string]string{}
	for _, s := range seeds {
		state[s.path] = s.sha256
	}
	used := map[string]bool{}
	keys := make([]string, len(c.Steps))
	for i, st := range c.Steps {
		for _, u := range st.Uses {
			if used[u] {
				continue
			}
			used[u] = true
			src, _ := c.Source(u)
			for p, h := range src.Files {
				state[src.RootPath(p)] = h
			}
		}
		keys[i] = Key(st, state)
		for p, h := range st.Outputs {
			state[p] = h
		}
	}
	return keys, nil
}
