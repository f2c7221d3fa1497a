// Package chain reads chain definitions: the ordered, pinned steps that take
// bootchain's seeds and pinned upstream sources to a compiler.
//
// A chain is a directory holding a text file named `chain` and hash lists in
// sha256sum format. Chains under chain/<name>/ in this repository are embedded
// in the binary; fixture chains are read from a directory. The definition is
// meant to be read by an auditor without Go:
//
//	chain x86
//	describe stage0-posix 1.9.1 for i386
//	arch x86
//	seed hex0-seed bootstrap-seeds/POSIX/x86/hex0-seed
//	seed kaem-optional-seed bootstrap-seeds/POSIX/x86/kaem-optional-seed
//	seed-source hex0-seed src/hex0.hex0          # our commented seed source, placed in the root
//
//	source stage0-posix
//	    version 1.9.1
//	    url https://example.org/stage0-posix-1.9.1.tar.gz   # repeatable, tried in order
//	    archive-sha256 <64 hex>
//	    strip 1
//	    files stage0-posix.sha256                 # per-file pins; only these enter a step root
//	    local src                                 # instead of url: files in the chain dir's src/
//	    sizes stage0-posix.sizes                  # optional: "SIZE  PATH" for every pinned file
//	                                              # (a sibling list: the .sha256 lists stay plain
//	                                              # sha256sum format, which the QEMU guest reads)
//	    archive-size 635812                       # optional: the archive's size in bytes
//	    place distfiles/x-1.0.tar.gz              # instead of files and strip: the archive itself
//	                                              # enters the root here, pinned by archive-sha256,
//	                                              # for a step to unpack with the chain's own tools
//	    at tcc-1.0                                # with files: the pinned files enter the root
//	                                              # under this directory (default: at the root)
//
//	step seed
//	    describe hex0 -> ... -> M2
//	    run bootstrap-seeds/POSIX/x86/kaem-optional-seed ./x86/mescc-tools-seed-kaem.kaem
//	    dir /                                    # working directory (default /)
//	    env ARCH=x86                             # repeatable; default: empty environment
//	    uses stage0-posix                        # sources whose pinned files enter the root
//	    outputs seed.sha256                      # pinned outputs; repeatable
//	    derive                                   # re-derive outputs with the Go twins (stage0/)
//	    strict                                   # an undeclared file fails the step
//	    timeout 10m                              # default 30m
//	    pending WHY                              # instead of run, unverified section only:
//	                                             # the step is laid out but has no commands yet
//
//	default-until full                            # a run without --until stops after this step
//
//	section unverified
//
// A line whose first non-blank character is `#` is a comment, and ` #` ends a
// line's content. Unindented lines are top-level directives; indented lines
// belong to the block (source or step) opened by the last one. Steps run in
// the order they appear. Every step sees a cumulative root: the seeds (and
// seed sources), the pinned files of every source used so far and the
// declared outputs of every earlier step; the directory of each of its own
// declared outputs exists when it starts (the stage0 tools cannot make
// directories). Steps after `section unverified` run only when asked
// (--unverified) and never claim a verified result. There a step may have
// no `outputs` at all (the road ahead, whose results nobody has pinned yet):
// every file it writes is kept for the steps after it and reported with its
// hash as not pinned.
//
// A step's program (the first word of `run`, relative to its dir) must be a
// seed or an output of an earlier step. A `derive` step runs either a
// stage0 tool itself or `KAEM SCRIPT` with a script in kaem-minimal's
// dialect; the engine re-derives what each stage0 tool in it writes.
//
// `seed-source NAME PATH` is bootchain's own addition to the grammar: it puts
// the commented hex0 source of seed NAME (hex0/<arch>/*.hex0) at PATH, so a
// chain can show the seeds rebuilding themselves without a copy of their
// sources.
package chain

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"sort"
	"time"
)

// DefaultTimeout is a step's time limit when the chain gives none.
const DefaultTimeout = 30 * time.Minute

// Chain is a parsed and validated chain definition.
type Chain struct {
	Name     string
	Describe string
	Arch     string // which seed set: hex0/<Arch>
	Seeds    []Seed
	Sources  []Source
	Steps    []Step
	// DefaultUntil is the step a run stops after when --until names none
	// (the `default-until` directive); empty runs every verified step. It lets
	// a chain keep later steps, which need more sources, out of the plain run.
	DefaultUntil string
	// File names where the definition was read from, for messages:
	// e.g. chain/x86/chain or testdata/chains/fixture/chain.
	File string
}

// Seed places one of bootchain's seeds in every step root.
type Seed struct {
	Name string // hex0-seed | kaem-optional-seed
	Path string // slash-separated, relative to the root
	// Source, when not empty, is where the seed's commented hex0 source is
	// placed in the root (the seed-source directive).
	Source string
}

// Source is a pinned upstream source.
type Source struct {
	Name, Version string
	URLs          []string
	ArchiveSHA256 string
	Strip         int
	Files         map[string]string // path (slash, relative) -> sha256
	FilesList     string            // hash list the pins were read from, e.g. stage0-posix.sha256
	Local         fs.FS             // non-nil for `local DIR` sources
	LocalDir      string            // DIR of a local source, relative to the chain dir
	// Place, when not empty, is where the archive itself enters the root
	// (the place directive): the source is not unpacked on the host, Files
	// holds the one pin {Place: ArchiveSHA256} and a step unpacks it.
	Place string
	// At, when not empty, is the directory of the root the pinned files
	// enter (the at directive): Files keeps the paths inside the source,
	// so one pin list serves an archive, a tree and the root alike.
	At string
	// Sizes holds the size in bytes of each pinned file, when the chain
	// pins them (the sizes directive, or archive-size for a placed
	// archive); nil otherwise. Unpacking reads no more of a file than this.
	Sizes     map[string]int64
	SizesList string // size list the sizes were read from, e.g. stage0-posix.sizes
	// ArchiveSize is the archive's size in bytes (archive-size), 0 when
	// not pinned.
	ArchiveSize int64
}

// RootPath returns where the source's pinned file p lies in a step root.
func (s *Source) RootPath(p string) string {
	if s.At == "" {
		return p
	}
	return s.At + "/" + p
}

// Step is one command run in a fresh root.
type Step struct {
	Name, Describe string
	Argv           []string
	Dir            string // working directory inside the root, absolute
	Env            []string
	Uses           []string          // source names
	Outputs        map[string]string // path -> sha256 pin
	OutputsList    []string          // hash lists the pins were read from
	Derive         bool
	Strict         bool // an undeclared file fails the step
	Timeout        time.Duration
	Unverified     bool
	// Pending, when not empty, says why the step has no commands yet (the
	// pending directive, unverified section only): the road is laid, with
	// its sources pinned, but a run stops before the step.
	Pending string
	Line    int // line of the step directive
}

// Pinned reports whether the step has pinned outputs: every verified step
// does; an unverified one may not, and then every file it writes is kept.
func (s *Step) Pinned() bool { return len(s.Outputs) > 0 }

// Source returns the named source.
func (c *Chain) Source(name string) (*Source, bool) {
	for i := range c.Sources {
		if c.Sources[i].Name == name {
			return &c.Sources[i], true
		}
	}
	return nil, false
}

// StepIndex returns the index of the named step, or -1.
func (c *Chain) StepIndex(name string) int {
	for i := range c.Steps {
		if c.Steps[i].Name == name {
			return i
		}
	}
	return -1
}

// Pin is one pinned file.
type Pin struct {
	Path, SHA256 string
}

// Pins returns every output pin of every step, sorted by path (then hash):
// the list Digest hashes.
func (c *Chain) Pins() []Pin {
	var ps []Pin
	for _, s := range c.Steps {
		for p, h := range s.Outputs {
			ps = append(ps, Pin{p, h})
		}
	}
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Path != ps[j].Path {
			return ps[i].Path < ps[j].Path
		}
		return ps[i].SHA256 < ps[j].SHA256
	})
	return ps
}

// PlainStop returns the index of the step a plain run (no --until, no
// --unverified) stops after: the chain's default-until, else the last
// verified step before the unverified section or a pending step; -1 when
// no step can run.
func (c *Chain) PlainStop() int {
	if i := c.StepIndex(c.DefaultUntil); i >= 0 {
		return i
	}
	return c.lastVerified()
}

// FinalPins returns the pin of every file in the tree left after the last
// step (or the step named until, when not empty): a path written by several
// steps has the pin of the last. These are what `bootchain verify` checks.
func (c *Chain) FinalPins(until string) map[string]string {
	m := map[string]string{}
	for _, s := range c.Steps {
		for p, h := range s.Outputs {
			m[p] = h
		}
		if s.Name == until {
			break
		}
	}
	return m
}

// Digest returns the chain digest: the SHA-256 over every output pin, one
// "<sha256>  <path>\n" line each, sorted by path. Two chains with the same
// digest promise the same files.
func (c *Chain) Digest() string {
	h := sha256.New()
	for _, p := range c.Pins() {
		h.Write([]byte(p.SHA256 + "  " + p.Path + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SortedPaths returns the keys of a path -> sha256 map in order.
func SortedPaths(m map[string]string) []string {
	ps := make([]string, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}
