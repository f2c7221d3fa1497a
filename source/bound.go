package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/verify"
)

// MaxUnsizedFile bounds a pinned file whose size the chain does not pin
// (no `sizes` list, no `archive-size`): an archive entry, a tree's file or a
// placed archive larger than this is refused before a byte of it is read
// or written. 256 MiB is over a thousand times the largest file the x86
// chain pins (x86/cc_x86.M1, 205180 bytes) and far below what fills a disk.
const MaxUnsizedFile = 256 << 20

// bound returns the most bytes src's pinned file p may hold, and whether
// that is its pinned size (then it must hold exactly that).
func bound(src chain.Source, p string) (int64, bool) {
	if n, ok := src.Sizes[p]; ok {
		return n, true
	}
	return MaxUnsizedFile, false
}

// checkSize refuses src's pinned file p found with size bytes (in where,
// for the message) when that is not its pinned size, or more than
// MaxUnsizedFile when its size is not pinned. The error is a
// *verify.MismatchError: the file cannot hold the pinned bytes.
func checkSize(src chain.Source, p string, size int64, where string) error {
	max, exact := bound(src, p)
	switch {
	case exact && size != max:
		return &verify.MismatchError{Source: src.Name, Path: p, Expected: src.Files[p],
			Problem: fmt.Sprintf("%d bytes in %s, pinned size %d", size, where, max),
			Meaning: "it is not the pinned file; it was not read"}
	case !exact && size > max:
		return &verify.MismatchError{Source: src.Name, Path: p, Expected: src.Files[p],
			Problem: fmt.Sprintf("%d bytes in %s, more than any pinned file without a pinned size may have (%d)", size, where, max),
			Meaning: "it was refused before it was read"}
	}
	return nil
}

// checkTreeSizes checks the size of every pinned file of src present in
// dir before anything is hashed: a huge (or sparse) file at a pinned path
// is refused at once, not read.
func checkTreeSizes(src chain.Source, dir string) error {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("source %s: %w", src.Name, err)
	}
	defer r.Close()
	for _, p := range sortedPaths(src.Files) {
		fi, err := r.Stat(p)
		if errors.Is(err, fs.ErrNotExist) || err != nil || !fi.Mode().IsRegular() {
			continue // verify.Outputs reports these
		}
		if err := checkSize(src, p, fi.Size(), dir); err != nil {
			return err
		}
	}
	return nil
}
