package source

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bootchain/bootchain/verify"
)

// bomb sizes: far past any pin, and past MaxUnsizedFile.
const (
	sparseSize = 4 << 30 // a PAX sparse entry: 4 GiB of holes
	gzipSize   = MaxUnsizedFile + 1<<20
)

// sparseArchive returns a PAX archive (made by GNU tar, skipping the test
// without it) whose entry demo-1.0/x86/M0_x86.hex2 is a sparse file of
// sparseSize bytes, all holes but a few bytes.
func sparseArchive(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("GNU tar not installed: cannot make a sparse PAX entry")
	}
	dir := t.TempDir()
	f := put(t, filepath.Join(dir, "demo-1.0/x86/M0_x86.hex2"), []byte("M0 source\n"))
	if err := os.Truncate(f, sparseSize); err != nil {
		t.Fatal(err)
	}
	put(t, filepath.Join(dir, "demo-1.0/x86/hex0_x86.hex0"), []byte(release["x86/hex0_x86.hex0"]))
	out := filepath.Join(t.TempDir(), "sparse.tar")
	cmd := exec.Command("tar", "--format=pax", "--sparse", "-C", dir, "-cf", out, "demo-1.0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, b)
	}
	if fi, _ := os.Stat(out); fi.Size() > 1<<20 {
		t.Fatalf("sparse archive is %d bytes; tar did not write a sparse entry", fi.Size())
	}
	return out
}

// gzipBomb returns a .tar.gz of a few hundred KiB whose entry
// demo-1.0/x86/M0_x86.hex2 expands to gzipSize zero bytes.
func gzipBomb(t *testing.T) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "bomb.tar.gz")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "demo-1.0/x86/M0_x86.hex2", Mode: 0o644, Size: gzipSize, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for n := 0; n < gzipSize; n += len(zeros) {
		if _, err := tw.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return name
}

// bytesIn returns the bytes the files under dir take on disk (holes not
// counted: a sparse copy would not show in its size).
func bytesIn(t *testing.T, dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// TestUnpackBounded checks that no pinned file is read past its bound:
// a sparse entry with GiBs of holes, a gzip bomb and a huge sparse file in
// a tree, each at a pinned path, are refused from their size before a byte
// of them is written, whether the chain pins the file's size or not.
func TestUnpackBounded(t *testing.T) {
	sparse := sparseArchive(t)
	bomb := gzipBomb(t)
	tree := checkout(t, pinnedContent())
	if err := os.Truncate(filepath.Join(tree, "x86/M0_x86.hex2"), 2<<30); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, supplied string
		size           int64
	}{
		{"sparse PAX entry", sparse, sparseSize},
		{"gzip bomb", bomb, gzipSize},
		{"sparse file in a tree", tree, 2 << 30},
	}
	for _, tt := range tests {
		for _, sized := range []bool{true, false} {
			name := tt.name + ", size pinned"
			want := " bytes in " + tt.supplied + ", pinned size 10"
			if !sized {
				name = tt.name + ", size not pinned"
				want = " bytes in " + tt.supplied + ", more than any pinned file without a pinned size may have (268435456)"
			}
			t.Run(name, func(t *testing.T) {
				src := demoSource()
				if sized {
					src.Sizes = map[string]int64{}
					for _, p := range pinned {
						src.Sizes[p] = int64(len(release[p]))
					}
				}
				cache := t.TempDir()
				_, err := Open(context.Background(), src, tt.supplied, cache)
				var me *verify.MismatchError
				if !errors.As(err, &me) || me.Path != "x86/M0_x86.hex2" || !strings.Contains(err.Error(), itoa(tt.size)+want) {
					t.Fatalf("Open = %v, want x86/M0_x86.hex2 refused: %d%s", err, tt.size, want)
				}
				if n := bytesIn(t, cache); n > 1<<20 {
					t.Errorf("the cache holds %d bytes after the refusal", n)
				}
			})
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestPlacedArchiveHashedFirst checks that an archive given for a placed
// source is hashed (and sized) before it is copied: one that is not the
// pinned archive leaves nothing in the cache.
func TestPlacedArchiveHashedFirst(t *testing.T) {
	archive := gz(t, makeTar(t, releaseEntries("demo-1.0", false)))
	huge := filepath.Join(t.TempDir(), "huge.tar.gz")
	put(t, huge, archive)
	if err := os.Truncate(huge, 2<<30); err != nil {
		t.Fatal(err)
	}
	other := put(t, filepath.Join(t.TempDir(), "other.tar.gz"), append(archive, 0))
	tests := []struct {
		name, supplied string
		archiveSize    int64
		want           string
	}{
		{"huge sparse file, archive size pinned", huge, int64(len(archive)), "2147483648 bytes in " + huge + ", pinned size " + itoa(int64(len(archive)))},
		{"huge sparse file, no archive size", huge, 0, "2147483648 bytes in " + huge + ", more than any pinned file"},
		{"another archive", other, 0, "sha256 is " + sum(append(archive, 0))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := placedSource(archive)
			if tt.archiveSize > 0 {
				src.Sizes = map[string]int64{src.Place: tt.archiveSize}
			}
			cache := t.TempDir()
			_, err := Open(context.Background(), src, tt.supplied, cache)
			if !errors.Is(err, verify.ErrMismatch) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open = %v, want %q", err, tt.want)
			}
			if n := bytesIn(t, cache); n > 0 {
				t.Errorf("the cache holds %d bytes after the refusal", n)
			}
		})
	}
}
