package source

import (
	"archive/tar"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/verify"
)

func TestOpenArchiveFormats(t *testing.T) {
	plain := makeTar(t, releaseEntries("demo-1.0", false))
	tests := []struct {
		name string
		file string // deliberately misleading names: the format is sniffed
		make func(t testing.TB) []byte
	}{
		{"tar", "demo.tar", func(testing.TB) []byte { return plain }},
		{"tar.gz", "demo.tar.gz", func(t testing.TB) []byte { return gz(t, plain) }},
		{"tar.bz2", "demo.tar.bz2", func(t testing.TB) []byte { return compressWith(t, "bzip2", plain) }},
		{"tar.xz", "demo.tar.xz", func(t testing.TB) []byte { return compressWith(t, "xz", plain) }},
		{"gzip named .tar", "looks-plain.tar", func(t testing.TB) []byte { return gz(t, plain) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			archive := put(t, filepath.Join(t.TempDir(), tt.file), tt.make(t))
			cache := t.TempDir()
			tree, err := Open(context.Background(), demoSource(), archive, cache)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(tree.Root, filepath.Join(cache, "sources", "demo-1.0")) {
				t.Errorf("Root = %s, want it under the cache's sources/demo-1.0", tree.Root)
			}
			// Only the pinned files are unpacked.
			if got := listTree(t, tree.Root); !reflect.DeepEqual(got, pinnedContent()) {
				t.Errorf("unpacked %v, want %v", got, pinnedContent())
			}
			fi, err := os.Stat(tree.Path("x86/mescc-tools-seed"))
			if err != nil || fi.Mode().Perm() != 0o755 {
				t.Errorf("executable pinned file: mode %v, %v; want 0755", fi.Mode(), err)
			}
			if fi, _ := os.Stat(tree.Path("x86/M0_x86.hex2")); fi.Mode().Perm() != 0o644 {
				t.Errorf("plain pinned file: mode %v, want 0644", fi.Mode())
			}
		})
	}
}

// TestOpenRepackedAndCheckout shows that trust comes from the per-file
// pins: a repacked archive (other top directory, order and compression,
// extra files) and an unpacked checkout give the same verified files.
func TestOpenRepackedAndCheckout(t *testing.T) {
	src := demoSource()
	extra := append(releaseEntries("stage0-posix-Release_1.0", true), entry{name: "stage0-posix-Release_1.0/.git-ish", body: "x"})
	repacked := put(t, filepath.Join(t.TempDir(), "other.tar.gz"), gz(t, makeTar(t, extra)))
	tree, err := Open(context.Background(), src, repacked, t.TempDir())
	if err != nil {
		t.Fatalf("repacked archive: %v", err)
	}
	if got := listTree(t, tree.Root); !reflect.DeepEqual(got, pinnedContent()) {
		t.Errorf("repacked: unpacked %v", got)
	}

	// A checkout's pinned files are imported into the cache, as an
	// archive's are: a later Open without it finds them there.
	dir := checkout(t, release)
	cache := t.TempDir()
	tree, err = Open(context.Background(), src, dir, cache)
	if err != nil {
		t.Fatalf("checkout: %v", err)
	}
	if got := listTree(t, tree.Root); !reflect.DeepEqual(got, pinnedContent()) || !strings.HasPrefix(tree.Root, cache) {
		t.Errorf("checkout: tree at %s holds %v, want the pinned files in the cache", tree.Root, got)
	}
	if fi, err := os.Stat(tree.Path("x86/mescc-tools-seed")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("checkout: mode of x86/mescc-tools-seed = %v, %v", fi, err)
	}
	os.RemoveAll(dir)
	again, err := Open(context.Background(), src, "", cache)
	if err != nil || again.Root != tree.Root {
		t.Fatalf("Open without the checkout = %v, %v; want the cached copy", again, err)
	}
	if tree.Form != verify.FormTree || again.Form != verify.FormTree {
		t.Errorf("forms of a checkout and of its cached copy: %q, %q; expected %q: the cache says what its files came from", tree.Form, again.Form, verify.FormTree)
	}
	if c := Cached(context.Background(), src, cache); c == nil || c.Root != tree.Root || c.Form != verify.FormTree {
		t.Errorf("Cached after the checkout's import = %+v; want the cached copy, form tree", c)
	}
	if c := Cached(context.Background(), src, t.TempDir()); c != nil {
		t.Errorf("Cached in an empty cache = %+v; want nil", c)
	}
	// A cache that does not say (an older bootchain's) is not guessed at.
	os.Remove(again.Root + ".form")
	if again, err := Open(context.Background(), src, "", cache); err != nil {
		t.Errorf("Open of a cache without its form: %v", err)
	} else if again.Form != "" {
		t.Errorf("Open of a cache without its form: form %q; expected none", again.Form)
	}
}

func TestOpenCheckoutMismatch(t *testing.T) {
	src := demoSource()
	tests := []struct {
		name     string
		change   func(dir string)
		want     string
		notExist bool
	}{
		{
			name: "flipped byte",
			change: func(dir string) {
				os.WriteFile(filepath.Join(dir, "x86/M0_x86.hex2"), []byte("M0 sourcf\n"), 0o644)
			},
			want: "source demo: x86/M0_x86.hex2: sha256 is " + sums("M0 sourcf\n") + ", expected " + sums("M0 source\n") +
				"; the file was changed or the tree at DIR is not release 1.0",
		},
		{
			name:     "missing file (submodule not checked out)",
			change:   func(dir string) { os.Remove(filepath.Join(dir, "x86/hex0_x86.hex0")) },
			want:     "source demo: x86/hex0_x86.hex0: missing, expected sha256 " + sums("hex0 source\n") + "; it is not in DIR: the tree is not release 1.0, or a git checkout without its submodules (git submodule update --init --recursive)",
			notExist: true,
		},
		{
			name: "symlink out of the tree",
			change: func(dir string) {
				p := filepath.Join(dir, "x86/M0_x86.hex2")
				os.Remove(p)
				outside := filepath.Join(filepath.Dir(dir), "outside-M0")
				os.WriteFile(outside, []byte(release["x86/M0_x86.hex2"]), 0o644)
				os.Symlink(outside, p)
			},
			want: "source demo: x86/M0_x86.hex2: path leads outside the root, expected sha256 " + sums("M0 source\n") + ";",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := checkout(t, release)
			tt.change(dir)
			_, err := Open(context.Background(), src, dir, t.TempDir())
			var me *verify.MismatchError
			if !errors.As(err, &me) || !errors.Is(err, verify.ErrMismatch) {
				t.Fatalf("Open = %v, want a *verify.MismatchError", err)
			}
			want := strings.ReplaceAll(tt.want, "DIR", dir)
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error =\n%s\nwant prefix\n%s", err, want)
			}
			if errors.Is(err, fs.ErrNotExist) != tt.notExist {
				t.Errorf("errors.Is(err, fs.ErrNotExist) = %v, want %v", !tt.notExist, tt.notExist)
			}
		})
	}
	// A symlink that stays inside the tree is followed.
	dir := checkout(t, release)
	p := filepath.Join(dir, "x86/M0_x86.hex2")
	os.Rename(p, filepath.Join(dir, "real-M0"))
	os.Symlink("../real-M0", p)
	if _, err := Open(context.Background(), src, dir, t.TempDir()); err != nil {
		t.Errorf("symlink inside the tree: %v", err)
	}
}

func TestOpenArchiveRefused(t *testing.T) {
	src := demoSource()
	base := releaseEntries("demo-1.0", false)
	with := func(es ...entry) []entry { return append(append([]entry{}, base...), es...) }
	without := func(name string, es ...entry) []entry {
		var out []entry
		for _, e := range base {
			if e.name != "demo-1.0/"+name {
				out = append(out, e)
			}
		}
		return append(out, es...)
	}
	tests := []struct {
		name    string
		entries []entry
		want    string // error substring; "" means accepted
	}{
		{"absolute entry", with(entry{name: "/etc/cron.d/evil", body: "x"}), `refused: entry "/etc/cron.d/evil" has an absolute path`},
		{"dot-dot entry", with(entry{name: "demo-1.0/../../evil", body: "x"}), `refused: entry "demo-1.0/../../evil" leads outside the archive (..)`},
		{"pinned symlink to absolute path", without("x86/M0_x86.hex2",
			entry{name: "demo-1.0/x86/M0_x86.hex2", typ: tar.TypeSymlink, link: "/etc/passwd"}),
			`refused: symlink x86/M0_x86.hex2 -> "/etc/passwd" leads outside the source root`},
		{"pinned symlink escaping", without("x86/M0_x86.hex2",
			entry{name: "demo-1.0/x86/M0_x86.hex2", typ: tar.TypeSymlink, link: "../../outside"}),
			`refused: symlink x86/M0_x86.hex2 -> "../../outside" leads outside the source root`},
		{"pinned hard link escaping", without("x86/M0_x86.hex2",
			entry{name: "demo-1.0/x86/M0_x86.hex2", typ: tar.TypeLink, link: "demo-1.0"}),
			`refused: hard link x86/M0_x86.hex2 -> "demo-1.0" leads outside the source root`},
		{"pinned directory", without("x86/M0_x86.hex2",
			entry{name: "demo-1.0/x86/M0_x86.hex2/", typ: tar.TypeDir, mode: 0o755}),
			`pinned x86/M0_x86.hex2 is not a regular file`},
		{"pinned file missing", without("x86/M0_x86.hex2"),
			`source demo: x86/M0_x86.hex2: missing, expected sha256 ` + sums("M0 source\n") + `; it is not in ARCHIVE: the archive is not release 1.0, or strip 1 is wrong`},
		{"pinned file changed", without("x86/M0_x86.hex2", entry{name: "demo-1.0/x86/M0_x86.hex2", body: "evil\n"}),
			`source demo: x86/M0_x86.hex2: sha256 is ` + sums("evil\n") + `, expected ` + sums("M0 source\n") + `; the file was changed or ARCHIVE is not release 1.0`},
		{"symlink cycle", without("x86/M0_x86.hex2",
			entry{name: "demo-1.0/x86/M0_x86.hex2", typ: tar.TypeSymlink, link: "loop"},
			entry{name: "demo-1.0/x86/loop", typ: tar.TypeSymlink, link: "M0_x86.hex2"}),
			`pinned x86/M0_x86.hex2 is a link that does not lead to a file (a cycle, or more than 7 links)`},
		// Accepted: links that stay inside, and unpinned symlinks anywhere.
		{"pinned symlink inside", without("x86/M0_x86.hex2",
			entry{name: "demo-1.0/x86/M0_x86.hex2", typ: tar.TypeSymlink, link: "../shared/M0"},
			entry{name: "demo-1.0/shared/M0", body: release["x86/M0_x86.hex2"]}), ""},
		{"symlink to a later symlink", without("x86/M0_x86.hex2",
			entry{name: "demo-1.0/x86/M0_x86.hex2", typ: tar.TypeSymlink, link: "a"},
			entry{name: "demo-1.0/x86/a", typ: tar.TypeSymlink, link: "b"},
			entry{name: "demo-1.0/x86/b", body: release["x86/M0_x86.hex2"]}), ""},
		{"pinned hard link", without("x86/M0_x86.hex2",
			entry{name: "demo-1.0/x86/M0_x86.hex2", typ: tar.TypeLink, link: "demo-1.0/x86/hex0_x86.hex0"}),
			"x86/M0_x86.hex2: sha256 is " + sums("hex0 source\n")},
		{"unpinned escaping symlink", with(entry{name: "demo-1.0/bin/sh", typ: tar.TypeSymlink, link: "/bin/sh"}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			work := t.TempDir()
			archive := put(t, filepath.Join(work, "in", "demo.tar"), makeTar(t, tt.entries))
			cache := filepath.Join(work, "cache")
			tree, err := Open(context.Background(), src, archive, cache)
			want := strings.ReplaceAll(tt.want, "ARCHIVE", archive)
			switch {
			case want == "" && err != nil:
				t.Fatalf("Open: %v", err)
			case want == "":
				if got := listTree(t, tree.Root); !reflect.DeepEqual(got, pinnedContent()) {
					t.Errorf("unpacked %v", got)
				}
			case err == nil || !strings.Contains(err.Error(), want):
				t.Fatalf("Open error = %v\nwant one containing %s", err, want)
			}
			// Nothing lands outside the cache, and a refused archive
			// leaves no unpacked tree behind.
			ents, _ := os.ReadDir(work)
			if len(ents) != 2 {
				t.Errorf("work dir holds %d entries, want only in/ and cache/", len(ents))
			}
			if err != nil {
				if _, serr := os.Stat(unpackDir(src, cache)); serr == nil {
					t.Errorf("refused archive left %s", unpackDir(src, cache))
				}
				if tmp, _ := filepath.Glob(filepath.Join(cache, "sources", "*", ".tmp-*")); len(tmp) > 0 {
					t.Errorf("refused archive left temporary directories %v", tmp)
				}
			}
		})
	}
}

func TestOpenMissing(t *testing.T) {
	cache := t.TempDir()
	src := demoSource()
	src.ArchiveSHA256 = sums("archive")
	_, err := Open(context.Background(), src, "", cache)
	var me *MissingError
	if !errors.As(err, &me) || !errors.Is(err, ErrMissing) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open = %v, want a *MissingError", err)
	}
	archive := filepath.Join(cache, "distfiles", "demo-1.0.tar.gz")
	for _, want := range []string{
		"source demo 1.0 is not available: " + archive + " does not exist",
		"bootchain fetch   (from https://example.invalid/releases/demo-1.0.tar.gz)",
		"copy demo-1.0.tar.gz (sha256 " + sums("archive") + ") into a directory DIR and run: bootchain fetch --from DIR",
		"--source demo=PATH",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q:\n%s", want, err)
		}
	}
	me.Chain = "x86"
	put(t, archive+".part", []byte("half"))
	for _, want := range []string{"bootchain fetch --chain x86 ", "bootchain fetch --chain x86 --from DIR", "(a partial download is at " + archive + ".part)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q:\n%s", want, err)
		}
	}

	src.URLs = nil
	if _, err := Open(context.Background(), src, "", cache); !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "--source demo=PATH") {
		t.Errorf("source without URL: %v", err)
	}
	if _, err := Open(context.Background(), demoSource(), filepath.Join(cache, "nope"), cache); err == nil || !strings.Contains(err.Error(), "--source demo=") {
		t.Errorf("missing --source path: %v", err)
	}
}

func TestOpenFromCache(t *testing.T) {
	cache := t.TempDir()
	src := demoSource()
	archiveBytes := gz(t, makeTar(t, releaseEntries("demo-1.0", false)))
	src.ArchiveSHA256 = sum(archiveBytes)
	put(t, ArchivePath(src, cache), archiveBytes)

	tree, err := Open(context.Background(), src, "", cache)
	if err != nil {
		t.Fatal(err)
	}
	if got := listTree(t, tree.Root); !reflect.DeepEqual(got, pinnedContent()) {
		t.Errorf("unpacked %v", got)
	}
	// The second Open uses the unpacked files and re-checks them: a flipped
	// byte there stops it.
	os.Remove(ArchivePath(src, cache))
	again, err := Open(context.Background(), src, "", cache)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	if tree.Form != verify.FormArchive || again.Form != verify.FormArchive {
		t.Errorf("forms of an unpacked archive and of its cached copy: %q, %q; expected %q", tree.Form, again.Form, verify.FormArchive)
	}
	os.WriteFile(tree.Path("x86/hex0_x86.hex0"), []byte("hex0 sourcE\n"), 0o644)
	_, err = Open(context.Background(), src, "", cache)
	if !errors.Is(err, verify.ErrMismatch) || !strings.Contains(err.Error(), "the unpacked copy in the cache was changed") ||
		!strings.Contains(err.Error(), "x86/hex0_x86.hex0: sha256 is "+sums("hex0 sourcE\n")) {
		t.Errorf("tampered unpacked copy: %v", err)
	}
	// A supplied archive replaces the damaged copy.
	supplied := put(t, filepath.Join(t.TempDir(), "demo.tar.gz"), archiveBytes)
	if _, err := Open(context.Background(), src, supplied, cache); err != nil {
		t.Fatalf("Open with a supplied archive over a damaged cache: %v", err)
	}
	if _, err := Open(context.Background(), src, "", cache); err != nil {
		t.Errorf("cache not repaired: %v", err)
	}

	// A cached archive that does not match its pin is not unpacked.
	cache2 := t.TempDir()
	put(t, ArchivePath(src, cache2), append(archiveBytes, 0))
	_, err = Open(context.Background(), src, "", cache2)
	if !errors.Is(err, verify.ErrMismatch) || !strings.Contains(err.Error(), "cached archive is damaged") {
		t.Errorf("bad cached archive: %v", err)
	}
}

func TestOpenLocal(t *testing.T) {
	good := fstest.MapFS{}
	for p, c := range release {
		good[p] = &fstest.MapFile{Data: []byte(c), Mode: 0o644}
	}
	good["x86/mescc-tools-seed"].Mode = 0o755
	src := demoSource()
	src.URLs, src.Strip, src.Local, src.LocalDir = nil, 0, good, "src"
	cache := t.TempDir()
	tree, err := Open(context.Background(), src, "", cache)
	if err != nil {
		t.Fatal(err)
	}
	if got := listTree(t, tree.Root); !reflect.DeepEqual(got, pinnedContent()) {
		t.Errorf("copied %v", got)
	}
	if fi, _ := os.Stat(tree.Path("x86/mescc-tools-seed")); fi.Mode().Perm() != 0o755 {
		t.Errorf("mode %v, want 0755", fi.Mode())
	}

	// A tampered twin with the same pins fails, even though the good one
	// is already unpacked in the cache.
	bad := fstest.MapFS{}
	for p, f := range good {
		bad[p] = f
	}
	bad["x86/M0_x86.hex2"] = &fstest.MapFile{Data: []byte("M0 tampered\n")}
	src.Local = bad
	_, err = Open(context.Background(), src, "", cache)
	want := "source demo: x86/M0_x86.hex2: sha256 is " + sums("M0 tampered\n") + ", expected " + sums("M0 source\n") + "; the file in src/ was changed"
	if err == nil || err.Error() != want {
		t.Errorf("tampered local source:\n got %v\nwant %s", err, want)
	}
	delete(bad, "x86/M0_x86.hex2")
	_, err = Open(context.Background(), src, "", cache)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing, expected sha256") {
		t.Errorf("missing local file: %v", err)
	}
}

func TestOpenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	archive := put(t, filepath.Join(t.TempDir(), "demo.tar"), makeTar(t, releaseEntries("demo-1.0", false)))
	if _, err := Open(ctx, demoSource(), archive, t.TempDir()); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a cancelled context = %v", err)
	}
}

func TestOpenRejectsBadPins(t *testing.T) {
	src := demoSource()
	src.Files = map[string]string{"../etc/passwd": sums("x")}
	if _, err := Open(context.Background(), src, t.TempDir(), t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a clean relative path") {
		t.Errorf("Open with pin ../etc/passwd = %v", err)
	}
}

func TestCacheDir(t *testing.T) {
	tests := []struct {
		xdg, home, want string
		ok              bool
	}{
		{"/x/cache", "/home/u", "/x/cache/bootchain", true},
		{"relative/cache", "/home/u", "/home/u/.cache/bootchain", true},
		{"", "/home/u", "/home/u/.cache/bootchain", true},
		{"", "", "", false},
	}
	for _, tt := range tests {
		t.Setenv("XDG_CACHE_HOME", tt.xdg)
		t.Setenv("HOME", tt.home)
		got, err := CacheDir()
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("XDG_CACHE_HOME=%q HOME=%q: CacheDir() = %q, %v; want %q", tt.xdg, tt.home, got, err, tt.want)
		}
	}
}

func TestArchiveName(t *testing.T) {
	tests := []struct {
		urls []string
		want string
	}{
		{[]string{"https://github.com/o/demo/releases/download/Release_1.0/demo-1.0.tar.gz"}, "demo-1.0.tar.gz"},
		{[]string{"https://github.com/o/demo/archive/refs/tags/Release_1.0.tar.gz"}, "demo-Release_1.0.tar.gz"},
		{[]string{"https://mirror.example/pub/demo%2B-1.0.tar.xz?x=1"}, "demo+-1.0.tar.xz"},
		{[]string{"https://mirror.example/"}, "demo-1.0"},
		{nil, ""},
	}
	for _, tt := range tests {
		src := chain.Source{Name: "demo", Version: "1.0", URLs: tt.urls}
		if got := ArchiveName(src); got != tt.want {
			t.Errorf("ArchiveName(%v) = %q, want %q", tt.urls, got, tt.want)
		}
	}
}

// placedSource is demo 1.0 with `place`: its one pin is the archive.
func placedSource(archive []byte) chain.Source {
	return chain.Source{Name: "demo", Version: "1.0", Place: "distfiles/demo-1.0.tar.gz",
		ArchiveSHA256: sum(archive), Files: map[string]string{"distfiles/demo-1.0.tar.gz": sum(archive)},
		URLs: []string{"https://example.invalid/releases/demo-1.0.tar.gz"}}
}

// TestOpenPlaced shows a placed source: the archive enters the tree whole,
// only the pinned archive is accepted (a repack with the same files is
// not), and a tree is refused.
func TestOpenPlaced(t *testing.T) {
	archive := gz(t, makeTar(t, releaseEntries("demo-1.0", false)))
	repacked := gz(t, makeTar(t, releaseEntries("demo-1.0", true)))
	src := placedSource(archive)
	tests := []struct {
		name     string
		supplied func(t *testing.T) string
		wantErr  string
	}{
		{"the pinned archive", func(t *testing.T) string { return put(t, filepath.Join(t.TempDir(), "a.tgz"), archive) }, ""},
		{"a repacked archive", func(t *testing.T) string { return put(t, filepath.Join(t.TempDir(), "a.tgz"), repacked) }, "not the pinned archive of demo 1.0"},
		{"an unpacked tree", func(t *testing.T) string { return t.TempDir() }, "expected the archive itself (sha256 " + sum(archive) + "), found a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree, err := Open(context.Background(), src, tt.supplied(t), t.TempDir())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"distfiles/demo-1.0.tar.gz": string(archive)}
			if got := listTree(t, tree.Root); !reflect.DeepEqual(got, want) {
				t.Errorf("tree holds %d files, want only the archive at distfiles/demo-1.0.tar.gz", len(got))
			}
		})
	}
}

// TestOpenPlacedFromCache opens a placed source from the archive in the
// cache's distfiles, and says how to supply it when it is missing.
func TestOpenPlacedFromCache(t *testing.T) {
	archive := gz(t, makeTar(t, releaseEntries("demo-1.0", false)))
	src := placedSource(archive)
	cache := t.TempDir()
	_, err := Open(context.Background(), src, "", cache)
	if !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "supply the archive itself: --source demo=PATH") {
		t.Fatalf("Open with an empty cache: %v, want a MissingError asking for the archive itself", err)
	}
	put(t, ArchivePath(src, cache), archive)
	tree, err := Open(context.Background(), src, "", cache)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := verify.File(tree.Path(src.Place)); err != nil || got != src.ArchiveSHA256 {
		t.Errorf("placed archive: sha256 %s, %v; want %s", got, err, src.ArchiveSHA256)
	}
}

// TestMissingErrorFetchFlags: the fetch commands a MissingError suggests
// carry the chain, the step that first needs the source and --unverified,
// since a plain fetch gets only what a plain run needs.
func TestMissingErrorFetchFlags(t *testing.T) {
	e := &MissingError{Source: demoSource(), CacheDir: "/c", Chain: "./road", Until: "gcc", Unverified: true}
	for _, want := range []string{
		"download it: bootchain fetch --chain ./road --until gcc --unverified   (from https://example.invalid/releases/demo-1.0.tar.gz)",
		"run: bootchain fetch --chain ./road --until gcc --unverified --from DIR",
	} {
		if !strings.Contains(e.Error(), want) {
			t.Errorf("message lacks %q:\n%s", want, e.Error())
		}
	}
}
