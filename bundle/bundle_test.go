package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/engine"
	"github.com/bootchain/bootchain/sandbox"
	"github.com/bootchain/bootchain/verify"
)

const fixtureDir = "../testdata/chains/fixture"

func load(t *testing.T) *chain.Chain {
	t.Helper()
	c, err := chain.Load(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// filled returns a cache holding the fixture's verified steps up to until.
func filled(t *testing.T, c *chain.Chain, until string) string {
	t.Helper()
	if err := sandbox.Available(); err != nil {
		t.Skipf("sandbox not available here, so steps cannot run: %v", err)
	}
	cache := t.TempDir()
	if _, err := engine.Run(context.Background(), engine.Options{Chain: c, CacheDir: cache, TempDir: t.TempDir(), Until: until}); err != nil {
		t.Fatal(err)
	}
	return cache
}

func export(t *testing.T, c *chain.Chain, cache, until string, gz bool) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := Export(context.Background(), &b, c, until, cache, gz); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// outputs lists a report's steps with their output hashes.
func outputs(rep *verify.Report) []string {
	var s []string
	for _, st := range rep.Steps {
		for _, o := range st.Outputs {
			s = append(s, st.Name+" "+o.Path+" "+o.SHA256)
		}
	}
	return s
}

// TestRoundTrip: export, import into an empty cache, run --from: the same
// hashes as the run that filled the first cache; the archive is the same
// bytes every time.
func TestRoundTrip(t *testing.T) {
	c := load(t)
	cache := filled(t, c, "hello")
	for _, gz := range []bool{false, true} {
		a := export(t, c, cache, "data", gz)
		if b := export(t, c, cache, "data", gz); !bytes.Equal(a, b) {
			t.Fatalf("gzip %v: two exports differ", gz)
		}
		fresh := t.TempDir()
		sum, err := Import(context.Background(), bytes.NewReader(a), c, fresh)
		if err != nil {
			t.Fatalf("gzip %v: import: %v", gz, err)
		}
		if sum.Until != "data" || len(sum.Steps) != 3 || sum.Files != 5 {
			t.Errorf("summary %+v, want 3 steps to data, 5 files", sum)
		}
		rep, err := engine.Run(context.Background(), engine.Options{Chain: c, CacheDir: fresh, TempDir: t.TempDir(), From: "hello", Until: "hello"})
		if err != nil {
			t.Fatalf("run --from hello after import: %v", err)
		}
		want, err := engine.Run(context.Background(), engine.Options{Chain: c, CacheDir: cache, TempDir: t.TempDir(), Until: "hello"})
		if err != nil {
			t.Fatal(err)
		}
		if g, w := outputs(rep), outputs(want); !reflect.DeepEqual(g, w) {
			t.Errorf("hashes after import:\n%s\nwant\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
		}
	}
}

// TestExportNotCached: export names the step the cache lacks.
func TestExportNotCached(t *testing.T) {
	c := load(t)
	cache := filled(t, c, "kaem")
	_, err := Export(context.Background(), io.Discard, c, "data", cache, false)
	if err == nil || !strings.HasPrefix(err.Error(), "step data has no verified outputs in the cache") {
		t.Errorf("err = %v, want step data named", err)
	}
	if _, err := Export(context.Background(), io.Discard, c, "again", cache, false); err == nil || !strings.Contains(err.Error(), "unverified section") {
		t.Errorf("--until again: %v, want the unverified section refused", err)
	}
}

type entry struct {
	hdr  tar.Header
	data []byte
}

func entries(t *testing.T, a []byte) []entry {
	t.Helper()
	var es []entry
	tr := tar.NewReader(bytes.NewReader(a))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return es
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		es = append(es, entry{*h, b})
	}
}

func write(t *testing.T, es []entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range es {
		h := e.hdr
		h.Size = int64(len(e.data))
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.data)
	}
	tw.Close()
	return b.Bytes()
}

// TestImportRefuses: a changed, missing, extra, escaping or linked entry,
// a truncated archive or another chain's: refused, naming the entry, and
// the cache is as it was.
func TestImportRefuses(t *testing.T) {
	c := load(t)
	src := filled(t, c, "data")
	good := export(t, c, src, "data", false)
	const hello = Root + "/steps/data/out/hello"
	edit := func(f func([]entry) []entry) []byte {
		return write(t, f(entries(t, good)))
	}
	find := func(es []entry, name string) int {
		for i, e := range es {
			if e.hdr.Name == name {
				return i
			}
		}
		t.Fatalf("no entry %s", name)
		return -1
	}
	for _, tc := range []struct {
		name    string
		archive []byte
		want    string
	}{
		{"one byte changed", edit(func(es []entry) []entry {
			i := find(es, hello)
			es[i].data = append([]byte(nil), es[i].data...)
			es[i].data[100] ^= 1
			return es
		}), "archive refused: step data: out/hello: sha256 is "},
		{"one file missing", edit(func(es []entry) []entry {
			i := find(es, hello)
			return append(es[:i], es[i+1:]...)
		}), "archive refused: entry " + hello + ": missing: step data's output out/hello"},
		{"an extra file", edit(func(es []entry) []entry {
			e := es[find(es, hello)]
			e.hdr.Name = Root + "/steps/data/out/extra"
			return append(es, e)
		}), "archive refused: entry " + Root + "/steps/data/out/extra: not an output of step data (an extra file)"},
		{"a path with ..", edit(func(es []entry) []entry {
			e := es[find(es, hello)]
			e.hdr.Name = Root + "/steps/data/../../../tmp/evil"
			return append([]entry{e}, es...)
		}), "archive refused: entry " + Root + "/steps/data/../../../tmp/evil: a path with \"..\""},
		{"a symlink out of the tree", edit(func(es []entry) []entry {
			i := find(es, hello)
			es[i] = entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: hello, Linkname: "/etc/passwd", Mode: 0o777}}
			return es
		}), "archive refused: entry " + hello + ": a symbolic link (to \"/etc/passwd\")"},
		{"truncated", good[:len(good)/2], "archive refused: "},
		{"a forged size", func() []byte {
			var b bytes.Buffer
			tw := tar.NewWriter(&b)
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: hello, Size: 1 << 40, Mode: 0o644})
			return b.Bytes()
		}(), "archive refused: entry " + hello + ": 1099511627776 bytes, more than"},
		{"another chain", edit(func(es []entry) []entry {
			i := find(es, manifestName)
			es[i].data = bytes.Replace(es[i].data, []byte(c.Digest()), []byte(strings.Repeat("0", 64)), 1)
			return es
		}), "archive refused: entry " + manifestName + ": the archive is of chain fixture with digest 0000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := filled(t, c, "hex0") // a cache with something in it
			before := snapshot(t, cache)
			_, err := Import(context.Background(), bytes.NewReader(tc.archive), c, cache)
			if err == nil || !errors.Is(err, ErrRefused) || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q...", err, tc.want)
			}
			if tc.name == "truncated" && !strings.Contains(err.Error(), "truncated") && !strings.Contains(err.Error(), "missing") {
				t.Errorf("truncated: %v, want it said", err)
			}
			if after := snapshot(t, cache); !reflect.DeepEqual(before, after) {
				t.Errorf("the cache changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
	// And the untouched archive goes in.
	if _, err := Import(context.Background(), bytes.NewReader(good), c, t.TempDir()); err != nil {
		t.Errorf("good archive: %v", err)
	}
}

// snapshot lists every file under dir with its hash.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			m[rel+"/"] = "dir"
			return nil
		}
		h, err := verify.File(p)
		m[rel] = h
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// FuzzImport: no archive makes Import panic or store anything it did not
// check.
func FuzzImport(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("bootchain-export/manifest.json"))
	c, err := chain.Load(fixtureDir)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cache := t.TempDir()
		if _, err := Import(context.Background(), bytes.NewReader(b), c, cache); err == nil {
			t.Fatalf("an archive of %d fuzzed bytes was imported", len(b))
		}
	})
}
