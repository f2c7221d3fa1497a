package chain

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bootchain/bootchain/verify"
)

// The chains built into bootchain: chain/<name>/ holds the definition, its
// hash lists and any local source files.
//
//go:embed x86 amd64
var embedded embed.FS

// Embedded returns the names of the chains built into bootchain, sorted.
func Embedded() []string {
	ents, _ := fs.ReadDir(embedded, ".")
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// Load returns the chain arg names: an embedded chain ("x86") or, when arg
// contains a '/', the chain in that directory ("./testdata/chains/fixture").
// A directory chain is named by its `chain` directive; an embedded chain's
// directive must say its directory's name.
func Load(arg string) (*Chain, error) {
	if strings.Contains(arg, "/") {
		dir := filepath.Clean(arg)
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("chain %s: %w", arg, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("chain %s: expected a directory holding a chain file, found a file", arg)
		}
		// verify.DirFS, not os.DirFS: a named pipe in the directory must
		// be refused, not read (which blocks until someone writes to it).
		return parse("", filepath.ToSlash(dir), verify.DirFS(dir))
	}
	for _, n := range Embedded() {
		if n == arg {
			sub, err := fs.Sub(embedded, n)
			if err != nil {
				return nil, err
			}
			return Parse(n, sub)
		}
	}
	return nil, fmt.Errorf("chain %q: expected one of %s, or a directory path containing '/'", arg, strings.Join(Embedded(), ", "))
}
