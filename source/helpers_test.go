package source

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/bootchain/bootchain/chain"
)

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func sums(s string) string { return sum([]byte(s)) }

// entry is one member of a test archive.
type entry struct {
	name, body string
	typ        byte // tar.TypeReg when zero
	link       string
	mode       int64 // 0644 when zero
}

// release is the content of the test source "demo 1.0": pinned files, an
// executable among them, and files no step reads.
var release = map[string]string{
	"x86/hex0_x86.hex0":    "hex0 source\n",
	"x86/M0_x86.hex2":      "M0 source\n",
	"x86/mescc-tools-seed": "#!kaem\n",
	"README":               "not pinned\n",
	"docs/a.txt":           "not pinned either\n",
}

var pinned = []string{"x86/hex0_x86.hex0", "x86/M0_x86.hex2", "x86/mescc-tools-seed"}

// demoSource returns the chain source for release with strip 1.
func demoSource() chain.Source {
	files := map[string]string{}
	for _, p := range pinned {
		files[p] = sums(release[p])
	}
	return chain.Source{Name: "demo", Version: "1.0", Strip: 1, Files: files,
		URLs: []string{"https://example.invalid/releases/demo-1.0.tar.gz"}}
}

// releaseEntries returns release as archive entries under top/, in path
// order, reversed when reverse is set (a repacked archive).
func releaseEntries(top string, reverse bool) []entry {
	var names []string
	for n := range release {
		names = append(names, n)
	}
	sort.Strings(names)
	if reverse {
		sort.Sort(sort.Reverse(sort.StringSlice(names)))
	}
	es := []entry{{name: top + "/", typ: tar.TypeDir, mode: 0o755}}
	for _, n := range names {
		e := entry{name: top + "/" + n, body: release[n]}
		if n == "x86/mescc-tools-seed" {
			e.mode = 0o755
		}
		es = append(es, e)
	}
	return es
}

func makeTar(t testing.TB, es []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// compressWith pipes b through a host compressor (bzip2, xz), skipping the
// test when it is not installed.
func compressWith(t testing.TB, tool string, b []byte) []byte {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s not installed: cannot build a test archive", tool)
	}
	cmd := exec.Command(tool, "-c")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s -c: %v", tool, err)
	}
	return out
}

func put(t testing.TB, path string, b []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkout writes files as an unpacked tree (like a git checkout).
func checkout(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		put(t, filepath.Join(dir, filepath.FromSlash(p)), []byte(c))
	}
	return dir
}

// listTree returns the regular files under dir as path -> content.
func listTree(t testing.TB, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			got[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func pinnedContent() map[string]string {
	m := map[string]string{}
	for _, p := range pinned {
		m[p] = release[p]
	}
	return m
}
